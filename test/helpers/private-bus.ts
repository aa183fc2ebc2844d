/**
 * A private, system-bus-like dbus-daemon for tests: EXTERNAL auth, Debian's default system policy
 * (deny own, deny method calls unless a policy file allows them), our policy files included, a
 * socket any local user can reach (for clients run as nobody through setpriv).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface PrivateBus {
  address: string;
  socketPath: string;
  dir: string;
  /** Included directory (<includedir>): policy files dropped here later take effect within ~1 s (inotify). */
  policyDir: string;
  pid: number;
  stop(): Promise<void>;
}

function busConfig(socketPath: string, policyDir: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socketPath}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>${policyDir}</includedir>
</busconfig>
`;
}

/** `policyFiles` are copied into the included directory; `policyTexts` are written there, by file name. */
export async function startPrivateBus(opts: { policyFiles?: string[]; policyTexts?: Record<string, string> } = {}): Promise<PrivateBus> {
  const dir = mkdtempSync(join(tmpdir(), 'ppd-bus-'));
  chmodSync(dir, 0o755); // mkdtemp makes it 0700: a client dropped to nobody could not reach the socket
  const policyDir = join(dir, 'system.d');
  mkdirSync(policyDir);
  for (const file of opts.policyFiles ?? []) copyFileSync(file, join(policyDir, basename(file)));
  for (const [name, text] of Object.entries(opts.policyTexts ?? {})) writeFileSync(join(policyDir, name), text);
  const socketPath = join(dir, 'bus.sock');
  const configPath = join(dir, 'bus.conf');
  writeFileSync(configPath, busConfig(socketPath, policyDir));

  const child = spawn('dbus-daemon', [`--config-file=${configPath}`, '--nofork', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl).trim()); // printed once the socket listens
      });
      child.once('error', (err) => reject(new Error(`cannot start dbus-daemon (package dbus-daemon): ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code} before printing its address: ${stderr}`)));
    });
    if (child.pid === undefined) throw new Error('dbus-daemon has no pid');
    const pid = child.pid;
    let stopped = false;
    return {
      address,
      socketPath,
      dir,
      policyDir,
      pid,
      async stop() {
        if (stopped) return;
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) {
          process.kill(pid, 'SIGTERM');
          const timer = setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
          }, 2000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
