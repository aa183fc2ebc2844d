import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INITIAL_PARSER_STATE, parseUeventLine, parseUeventStream, ueventAddress } from '../../src/watch/uevent-parse.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseUeventStream', () => {
  it('reads PCI add, bind, unbind and remove with their properties', () => {
    const { ready, events } = parseUeventStream(fixture('udevadm-monitor-pci.txt'));
    expect(ready).toBe(true);
    expect(events.map((e) => [e.action, e.props.DRIVER ?? null])).toEqual([
      ['add', null],
      ['bind', 'nvidia'],
      ['unbind', null],
      ['bind', 'vfio-pci'],
      ['remove', null],
    ]);
    expect(events[1]).toMatchObject({
      devpath: '/devices/pci0000:00/0000:00:01.0/0000:01:00.0',
      subsystem: 'pci',
      props: { PCI_SLOT_NAME: '0000:01:00.0', PCI_ID: '10DE:1B80', SEQNUM: '5002' },
    });
    expect(events.map(ueventAddress)).toEqual(Array(5).fill('0000:01:00.0'));
  });

  it('reads output captured from a real udevadm 252 (veth in a private netns)', () => {
    const { ready, events } = parseUeventStream(fixture('udevadm-monitor-net-captured.txt'));
    expect(ready).toBe(true);
    expect(events).toEqual([
      {
        action: 'add',
        devpath: '/devices/virtual/net/v1',
        subsystem: 'net',
        props: { ACTION: 'add', DEVPATH: '/devices/virtual/net/v1', SUBSYSTEM: 'net', INTERFACE: 'v1', IFINDEX: '2', SEQNUM: '825' },
      },
      {
        action: 'add',
        devpath: '/devices/virtual/net/v1/queues/rx-0',
        subsystem: 'queues',
        props: { ACTION: 'add', DEVPATH: '/devices/virtual/net/v1/queues/rx-0', SUBSYSTEM: 'queues', SEQNUM: '826' },
      },
    ]);
    expect(ueventAddress(events[0]!)).toBeNull();
  });

  it('is not ready until the banner is over, and holds an event until its closing blank line', () => {
    const text = fixture('udevadm-monitor-pci.txt');
    expect(parseUeventStream('monitor will print the received events for:\nKERNEL - the kernel uevent\n').ready).toBe(false);
    const cut = text.indexOf('SEQNUM=5001') + 'SEQNUM=5001\n'.length;
    expect(parseUeventStream(text.slice(0, cut)).events).toEqual([]);
    expect(parseUeventStream(text.slice(0, cut + 1)).events).toHaveLength(1);
  });

  it('treats a first event line without a banner as ready', () => {
    const step = parseUeventLine(INITIAL_PARSER_STATE, 'KERNEL[1.000001] add      /devices/pci0000:00/0000:00:1f.3 (pci)');
    expect(step.output).toEqual([{ kind: 'ready' }]);
    const done = parseUeventLine(step.state, '');
    expect(done.output).toEqual([
      { kind: 'uevent', event: { action: 'add', devpath: '/devices/pci0000:00/0000:00:1f.3', subsystem: 'pci', props: {} } },
    ]);
    expect(ueventAddress((done.output[0] as { event: Parameters<typeof ueventAddress>[0] }).event)).toBe('0000:00:1f.3');
  });

  it('keeps values that contain "=" whole', () => {
    const text = 'h\n\nKERNEL[5.5] change   /devices/x (pci)\nACTION=change\nNOTE=a=b\n\n';
    expect(parseUeventStream(text).events[0]?.props.NOTE).toBe('a=b');
  });
});
