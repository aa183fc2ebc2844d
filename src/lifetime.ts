/**
 * Child processes must not outlive the daemon, whatever ends it (SIGKILL, a crash, bus loss), also
 * outside systemd where no cgroup is cleaned up.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** First executable called `name` on PATH, or null. */
function onPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

let setprivPath: string | null | undefined;

/**
 * `command` run through util-linux's setpriv with PR_SET_PDEATHSIG (prctl(2)): the kernel sends the
 * child SIGKILL when the thread that spawned it (Node's main thread) exits, however it exits. Without
 * setpriv on PATH the command is returned as it is (then the udev monitor ends at its next event by
 * SIGPIPE, the writer helper when its IPC channel closes).
 */
export function withParentDeathSignal(command: string[], setpriv: string | null = (setprivPath ??= onPath('setpriv'))): string[] {
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--', ...command] : command;
}
