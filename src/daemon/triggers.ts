/**
 * Why a reconcile runs. Reconcile is level-triggered: a trigger never carries data a decision relies
 * on; it only says which preparatory steps the run takes (re-read the config, forget hung devices)
 * and what the debug log shows.
 */
export type Trigger =
  | { kind: 'start' }
  /** SIGHUP or D-Bus Reload(): re-read the config, accept a vanished/empty one, retry hung devices. */
  | { kind: 'reload' }
  /** The config watcher saw the file settle (`change`) or go away (`unlink`). */
  | { kind: 'config'; change: 'change' | 'unlink' }
  | { kind: 'uevent'; action: string; address: string }
  /** The uevent watcher came back after being down: whatever happened meanwhile is unseen. */
  | { kind: 'uevent-restart' }
  /** The periodic drift check. */
  | { kind: 'schedule' }
  /** D-Bus Reconcile() by root: retry hung devices too. */
  | { kind: 'dbus-reconcile' };

export type TriggerKind = Trigger['kind'];

/** How a trigger reads in the log ("config change", "uevent add 0000:01:00.0"); also its identity in the queue. */
export function describeTrigger(t: Trigger): string {
  switch (t.kind) {
    case 'config':
      return `config ${t.change}`;
    case 'uevent':
      return `uevent ${t.action} ${t.address}`;
    default:
      return t.kind;
  }
}

/** The run re-reads the config file first. */
export const rereadsConfig = (triggers: readonly Trigger[]): boolean => triggers.some((t) => t.kind === 'reload' || t.kind === 'config');

/** The admin confirmed: a config that vanished or emptied is accepted as "no devices". */
export const confirmsConfig = (triggers: readonly Trigger[]): boolean => triggers.some((t) => t.kind === 'reload');

/** The run retries devices whose unbind hung. */
export const retriesStuck = (triggers: readonly Trigger[]): boolean => triggers.some((t) => t.kind === 'reload' || t.kind === 'dbus-reconcile');
