import { guestLabelWithStart } from '../guests/types.js';
import type { Check, IommuReport } from '../model.js';
import type { DeviceView, GroupView } from './views.js';
import { deviceName } from './views.js';

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function devicesText(devices: DeviceView[]): string {
  const rows = devices.map((d) => [
    d.address,
    d.class ? d.class.slice(0, 4) : '',
    d.vendorId ? `${d.vendorId}:${d.deviceId}` : '',
    d.driver ?? '-',
    d.iommuGroup === null ? '-' : String(d.iommuGroup),
    d.reset || '-',
    stateCell(d),
    truncate(d.vendorId ? deviceName(d) : '', 48),
  ]);
  const notes = devices.flatMap((d) => [
    ...(d.reason ? [`${d.address}: ${d.state}: ${d.reason}`] : []),
    ...(d.usedBy.length ? [`${d.address}: used by ${d.usedBy.map(guestLabelWithStart).join(', ')}`] : []),
    // The dead state's reason already says what the failing config-space check says.
    ...d.health.filter((c) => c.status !== 'pass' && !(c.name === 'config-space' && d.state === 'dead')).map((c) => `${d.address}: ${c.status}: ${c.name}: ${c.message}`),
    ...(d.claimReason ? [`${d.address}: claimed ${d.claim}: ${d.claimReason}`] : []),
  ]);
  return [table(['ADDRESS', 'CLASS', 'ID', 'DRIVER', 'GROUP', 'RESET', 'STATE', 'NAME'], rows), ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** The state worth showing ("" for a plain host device), and whether a VM has the device open. */
function stateCell(d: DeviceView): string {
  const state = d.managed || d.reason ? d.state : '';
  if (!d.openByVm) return state;
  return state ? `${state}, open by a VM` : 'open by a VM';
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

export function groupsText(groups: GroupView[]): string {
  if (groups.length === 0) return 'No IOMMU groups: DMA remapping is off (run `pcie-passthroughctl check`).';
  const rows = groups.map((g) => [
    String(g.id),
    g.type ?? '-',
    g.viable ? 'yes' : 'no',
    g.members.map((m) => `${m.address}${m.bridge ? ' (bridge)' : ` (${m.driver ?? 'no driver'})`}`).join(', '),
  ]);
  return table(['GROUP', 'TYPE', 'VIABLE', 'MEMBERS'], rows);
}

const MARK: Record<Check['status'], string> = { pass: 'pass', warn: 'WARN', fail: 'FAIL' };

export function iommuLine(report: IommuReport): string {
  return report.enabled
    ? `IOMMU on (${report.kind}, ${report.groupCount} groups), interrupt remapping: ${report.interruptRemapping}`
    : 'IOMMU off: DMA remapping is not active';
}

export function checksText(report: IommuReport): string {
  const head = iommuLine(report);
  const rows = report.checks.map((c) => [MARK[c.status], c.name, c.message]);
  return `${head}\n${table(['STATUS', 'CHECK', 'RESULT'], rows)}`;
}
