/**
 * Pure parser for `udevadm monitor --kernel --property` output (systemd src/udev/udevadm-monitor.c):
 *
 *   monitor will print the received events for:      ← header, ends with the first blank line;
 *   KERNEL - the kernel uevent                           the netlink socket is subscribed by then
 *
 *   KERNEL[4978.842213] add      /devices/pci0000:00/0000:00:01.0/0000:01:00.0 (pci)
 *   ACTION=add
 *   DEVPATH=/devices/pci0000:00/0000:00:01.0/0000:01:00.0
 *   SUBSYSTEM=pci
 *   PCI_SLOT_NAME=0000:01:00.0                        ← plus DRIVER= on bind, PCI_ID=, MODALIAS=, SEQNUM=
 *                                                    ← a blank line ends each event
 */
import { isPciAddress } from '../model.js';

export interface Uevent {
  /** add, remove, bind, unbind, change, move, online, offline. */
  action: string;
  /** Kernel path below /sys, e.g. /devices/pci0000:00/0000:00:01.0/0000:01:00.0. */
  devpath: string;
  subsystem: string;
  /** Every KEY=VALUE line: PCI_SLOT_NAME, PCI_ID, DRIVER (on bind), SEQNUM … */
  props: Record<string, string>;
}

export interface ParserState {
  /** Still reading the banner udevadm prints before it listens. */
  inHeader: boolean;
  current: Uevent | null;
}

export type ParseOutput = { kind: 'ready' } | { kind: 'uevent'; event: Uevent };

export const INITIAL_PARSER_STATE: ParserState = { inHeader: true, current: null };

const EVENT_LINE = /^(?:KERNEL|UDEV)\[[\d.]+\]\s+(\S+)\s+(\S+)\s+\(([^)]*)\)\s*$/;

/** Feeds one line (without its newline); returns the next state and what the line completed. */
export function parseUeventLine(state: ParserState, line: string): { state: ParserState; output: ParseOutput[] } {
  const output: ParseOutput[] = [];
  const eventStart = EVENT_LINE.exec(line);
  let { inHeader, current } = state;
  if (inHeader) {
    if (line === '') return { state: { inHeader: false, current: null }, output: [{ kind: 'ready' }] };
    if (!eventStart) return { state, output };
    // No banner (other udevadm versions): the first event proves we are listening.
    inHeader = false;
    output.push({ kind: 'ready' });
  }
  if (eventStart) {
    // An event header while one is open means its terminating blank line was lost: keep what we have.
    if (current) output.push({ kind: 'uevent', event: finish(current) });
    current = { action: eventStart[1]!, devpath: eventStart[2]!, subsystem: eventStart[3]!, props: {} };
    return { state: { inHeader, current }, output };
  }
  if (line === '') {
    if (current) output.push({ kind: 'uevent', event: finish(current) });
    return { state: { inHeader, current: null }, output };
  }
  const eq = line.indexOf('=');
  if (current && eq > 0) {
    current = { ...current, props: { ...current.props, [line.slice(0, eq)]: line.slice(eq + 1) } };
  }
  return { state: { inHeader, current }, output };
}

/** The properties are authoritative; the summary line is the fallback. */
function finish(event: Uevent): Uevent {
  return {
    action: event.props.ACTION ?? event.action,
    devpath: event.props.DEVPATH ?? event.devpath,
    subsystem: event.props.SUBSYSTEM ?? event.subsystem,
    props: event.props,
  };
}

/** Parses a whole captured text (an event without its closing blank line is not complete yet). */
export function parseUeventStream(text: string): { ready: boolean; events: Uevent[] } {
  let state = INITIAL_PARSER_STATE;
  let ready = false;
  const events: Uevent[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const step = parseUeventLine(state, line);
    state = step.state;
    for (const out of step.output) {
      if (out.kind === 'ready') ready = true;
      else events.push(out.event);
    }
  }
  return { ready, events };
}


/** Canonical PCI address of the event's device, or null when it is not a PCI function. */
export function ueventAddress(event: Uevent): string | null {
  const candidate = (event.props.PCI_SLOT_NAME ?? event.devpath.slice(event.devpath.lastIndexOf('/') + 1)).toLowerCase();
  return isPciAddress(candidate) ? candidate : null;
}
