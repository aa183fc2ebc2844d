/**
 * The bus service in this process on a private bus whose local policy lets anyone call it, so what
 * a test sees is the service's own checks, not dbus-daemon's.
 */
import { fileURLToPath } from 'node:url';
import { startBusService } from '../../src/dbus/index.js';
import type { BusHandlers, BusService } from '../../src/dbus/types.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { state } from './fixtures.js';

const POLICY = fileURLToPath(new URL('../../data/dbus/org.pciepassthroughd.conf', import.meta.url));
// Mandatory rules apply after every default and user rule.
const OPEN_POLICY = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="mandatory"><allow send_destination="org.pciepassthroughd"/></policy></busconfig>
`;

export interface OpenService {
  bus: PrivateBus;
  svc: BusService;
  stop(): Promise<void>;
}

export async function startOpenService(handlers: BusHandlers): Promise<OpenService> {
  const bus = await startPrivateBus({ policyFiles: [POLICY], policyTexts: { 'local-open.conf': OPEN_POLICY } });
  try {
    const svc = await startBusService({ bus: { address: bus.address }, initial: state(), handlers });
    return {
      bus,
      svc,
      async stop() {
        try {
          await svc.close();
        } finally {
          await bus.stop();
        }
      },
    };
  } catch (err) {
    await bus.stop();
    throw err;
  }
}
