/** Exit codes of pcie-passthroughctl (README "Exit codes"); check follows the monitoring-plugin convention. */
export const EXIT = {
  ok: 0,
  /** check: a warning; apply/plan: a managed device is not (or would not be) bound. */
  warning: 1,
  /** check: a failure; config invalid; an unexpected error. */
  failure: 2,
  /** status: the daemon is not running or not answering (LSB "program is not running", as systemctl status); --nagios: UNKNOWN. */
  notRunning: 3,
  /** EX_USAGE: bad command line. */
  usage: 64,
  /** EX_UNAVAILABLE: the daemon is not running (reload/reconcile); status: the system bus is not reachable. */
  unavailable: 69,
  /** EX_NOPERM: apply/reload/reconcile need root. */
  noPermission: 77,
} as const;

export class UsageError extends Error {}
