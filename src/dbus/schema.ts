/**
 * The D-Bus interfaces as data: one table drives Get/GetAll, PropertiesChanged, Introspect and
 * the XML shipped in data/dbus/ (a test keeps the shipped files equal to what this generates).
 */
import { DEVICE_IFACE, MANAGER_IFACE, OBJECT_MANAGER_IFACE } from './names.js';

/** A value as handed to dbus-next's marshaller for the signatures used here. */
export type WireValue = string | number | boolean | bigint | WireValue[];

export interface ArgSpec {
  name: string;
  type: string;
  doc: string;
}

export interface PropertySpec {
  name: string;
  type: 's' | 'b' | 'q' | 'u' | 'i' | 't' | 'a(sss)' | 'a(sssb)';
  /** org.freedesktop.DBus.Property.EmitsChangedSignal: 'const' never changes for the object's lifetime. */
  emits: 'true' | 'const';
  /** Published instead of a value that does not fit the type (a bad value never breaks GetAll). */
  fallback: WireValue;
  doc: string;
}

export interface MethodSpec {
  name: string;
  in: ArgSpec[];
  out: ArgSpec[];
  doc: string;
}

export interface SignalSpec {
  name: string;
  args: ArgSpec[];
  doc: string;
}

export interface InterfaceSpec {
  name: string;
  doc: string;
  properties: PropertySpec[];
  methods: MethodSpec[];
  signals: SignalSpec[];
}

const rows = (doc: string): ArgSpec => ({ name: 'rows', type: 'a(sss)', doc });

export const MANAGER1: InterfaceSpec = {
  name: MANAGER_IFACE,
  doc: 'The daemon: IOMMU verdict, configuration, counters and the actions anyone (Plan) or root (Reconcile, Reload) may ask for. Object /org/pciepassthroughd.',
  properties: [
    { name: 'Version', type: 's', emits: 'const', fallback: '', doc: 'Daemon version.' },
    { name: 'State', type: 's', emits: 'true', fallback: 'failed', doc: 'starting | ready | degraded | failed.' },
    { name: 'IommuEnabled', type: 'b', emits: 'true', fallback: false, doc: 'DMA remapping is really on (IOMMU groups exist and are not no-IOMMU fakes).' },
    { name: 'IommuKind', type: 's', emits: 'true', fallback: 'none', doc: 'intel-vt-d | amd-vi | other | none.' },
    { name: 'IommuGroupCount', type: 'u', emits: 'true', fallback: 0, doc: 'Number of IOMMU groups.' },
    { name: 'InterruptRemapping', type: 's', emits: 'true', fallback: 'unknown', doc: 'enabled | not-seen | unknown | unsafe-allowed.' },
    { name: 'Checks', type: 'a(sss)', emits: 'true', fallback: [], doc: 'IOMMU checks, then the guest checks (names starting with "guest"): (name, pass|warn|fail, message).' },
    { name: 'ConfigPath', type: 's', emits: 'true', fallback: '', doc: 'Configuration file in use.' },
    { name: 'ConfigError', type: 's', emits: 'true', fallback: '', doc: 'Why the configuration file was rejected (file:line:column: message); empty when it is valid.' },
    { name: 'ManagedCount', type: 'u', emits: 'true', fallback: 0, doc: 'Devices the configuration asks for.' },
    { name: 'BoundCount', type: 'u', emits: 'true', fallback: 0, doc: 'Managed devices bound to their target driver.' },
    { name: 'LastReconcile', type: 't', emits: 'true', fallback: 0n, doc: 'End of the last reconcile, microseconds since the Unix epoch; 0 before the first.' },
  ],
  methods: [
    { name: 'Plan', in: [], out: [rows('(address, action, message) that a reconcile would carry out now; empty when nothing is to do.')], doc: 'Dry run. Allowed for everyone.' },
    { name: 'Reconcile', in: [], out: [rows('(address, result, message) of what was done.')], doc: 'Reconcile now. Root only.' },
    { name: 'Reload', in: [], out: [], doc: 'Re-read the configuration, then reconcile. Root only.' },
  ],
  signals: [
    {
      name: 'Reconciled',
      args: [
        { name: 'changes', type: 'u', doc: 'Number of devices whose binding changed.' },
        { name: 'state', type: 's', doc: 'Manager State after the run.' },
      ],
      doc: 'Emitted after every reconcile run.',
    },
  ],
};

export const DEVICE1: InterfaceSpec = {
  name: DEVICE_IFACE,
  doc: 'One PCI device. Objects /org/pciepassthroughd/devices/pci_DDDD_BB_SS_F.',
  properties: [
    { name: 'Address', type: 's', emits: 'const', fallback: '', doc: 'PCI address, DDDD:BB:SS.F.' },
    { name: 'VendorId', type: 'q', emits: 'const', fallback: 0, doc: 'PCI vendor id.' },
    { name: 'DeviceId', type: 'q', emits: 'const', fallback: 0, doc: 'PCI device id.' },
    { name: 'SubsystemVendorId', type: 'q', emits: 'const', fallback: 0, doc: 'PCI subsystem vendor id.' },
    { name: 'SubsystemDeviceId', type: 'q', emits: 'const', fallback: 0, doc: 'PCI subsystem device id.' },
    { name: 'Class', type: 'u', emits: 'const', fallback: 0, doc: '24-bit PCI class code (class, subclass, prog-if).' },
    { name: 'Name', type: 's', emits: 'true', fallback: '', doc: 'Vendor and device name from pci.ids; empty when unknown.' },
    { name: 'Driver', type: 's', emits: 'true', fallback: '', doc: 'Bound driver; empty when none.' },
    { name: 'DriverOverride', type: 's', emits: 'true', fallback: '', doc: 'Content of driver_override; empty when unset.' },
    { name: 'IommuGroup', type: 'i', emits: 'true', fallback: -1, doc: 'IOMMU group number; -1 when the device has none.' },
    { name: 'Managed', type: 'b', emits: 'true', fallback: false, doc: 'The configuration asks for this device.' },
    { name: 'TargetDriver', type: 's', emits: 'true', fallback: '', doc: 'Driver the configuration wants; empty when unmanaged.' },
    { name: 'State', type: 's', emits: 'true', fallback: 'failed', doc: 'bound | pending | blocked | failed | missing | host | dead (config space reads all 0xff: needs a power cycle or a bus reset).' },
    { name: 'Reason', type: 's', emits: 'true', fallback: '', doc: 'One sentence saying why the device is in this state.' },
    { name: 'GroupViable', type: 'b', emits: 'true', fallback: false, doc: 'Its IOMMU group could be given to a VM now.' },
    { name: 'ResetMethod', type: 's', emits: 'true', fallback: '', doc: 'reset_method as the kernel lists it, space-separated in the order tried (e.g. "flr bus"); empty when the kernel has no reset_method attribute or resets are disabled.' },
    { name: 'Resettable', type: 'b', emits: 'true', fallback: false, doc: 'The kernel can reset this function (its reset attribute exists).' },
    { name: 'Health', type: 'a(sss)', emits: 'true', fallback: [], doc: 'Health checks: (reset | config-space | boot-framebuffer, pass|warn|fail, message with the fix). Every check for a managed device; only a failing config-space check for others.' },
    { name: 'OpenByVm', type: 'b', emits: 'true', fallback: false, doc: 'A VM has the device open (vfio-pci enable = 1); no member of its IOMMU group is released meanwhile.' },
    { name: 'Claim', type: 's', emits: 'true', fallback: 'none', doc: 'How this boot\'s claim went: early (on its target driver without ever being on a host driver) | late (a host driver bound first; ClaimReason says which and why) | none (unmanaged, or not bound yet).' },
    { name: 'ClaimReason', type: 's', emits: 'true', fallback: '', doc: 'One sentence for Claim, e.g. "bochs-drm bound first: bochs-drm is built into the kernel …"; empty for none.' },
    {
      name: 'UsedBy', type: 'a(sssb)', emits: 'true', fallback: [],
      doc: 'Guests whose configuration names this device: (source pve | libvirt, guest id (Proxmox vmid, libvirt UUID), guest name, starts at boot (onboot / autostart)). Read from /etc/pve and /etc/libvirt, never written.',
    },
  ],
  methods: [],
  signals: [],
};

/** Only the members; GetManagedObjects and the two signals are answered by the service itself. */
export const OBJECT_MANAGER: InterfaceSpec = {
  name: OBJECT_MANAGER_IFACE,
  doc: 'Standard ObjectManager on /org/pciepassthroughd: the device objects below it.',
  properties: [],
  methods: [
    { name: 'GetManagedObjects', in: [], out: [{ name: 'objects', type: 'a{oa{sa{sv}}}', doc: '' }], doc: '' },
  ],
  signals: [
    { name: 'InterfacesAdded', args: [{ name: 'object', type: 'o', doc: '' }, { name: 'interfaces', type: 'a{sa{sv}}', doc: '' }], doc: '' },
    { name: 'InterfacesRemoved', args: [{ name: 'object', type: 'o', doc: '' }, { name: 'interfaces', type: 'as', doc: '' }], doc: '' },
  ],
};

// ───────────────────────── values ─────────────────────────

const INTEGER_RANGE: Record<string, [number, number]> = {
  q: [0, 0xffff],
  u: [0, 0xffffffff],
  i: [-0x80000000, 0x7fffffff],
};

const U64_MAX = 0xffffffffffffffffn;

/** D-Bus strings may not contain NUL (dbus-daemon drops a connection that sends one). */
function cleanString(s: string): string {
  return s.includes('\0') ? s.replace(/\0/g, '') : s;
}

/**
 * Fit a value to a property's D-Bus type. Returns the fallback and a problem description when
 * it does not fit, so one bad value is published as a neutral default instead of breaking GetAll.
 */
export function coerce(spec: PropertySpec, value: unknown): { value: WireValue; problem: string | null } {
  const bad = (why: string) => ({ value: spec.fallback, problem: `${spec.name} (${spec.type}): ${why}` });
  switch (spec.type) {
    case 's':
      return typeof value === 'string' ? { value: cleanString(value), problem: null } : bad(`not a string: ${describe(value)}`);
    case 'b':
      return typeof value === 'boolean' ? { value, problem: null } : bad(`not a boolean: ${describe(value)}`);
    case 'q':
    case 'u':
    case 'i': {
      const [min, max] = INTEGER_RANGE[spec.type] ?? [0, 0];
      return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
        ? { value, problem: null }
        : bad(`not an integer in ${min}..${max}: ${describe(value)}`);
    }
    case 't': {
      const big = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : null;
      return big !== null && big >= 0n && big <= U64_MAX ? { value: big, problem: null } : bad(`not an unsigned 64-bit integer: ${describe(value)}`);
    }
    case 'a(sssb)': {
      if (!Array.isArray(value)) return bad(`not an array: ${describe(value)}`);
      const good = value.filter(
        (row): row is [string, string, string, boolean] =>
          Array.isArray(row) && row.length === 4 && row.slice(0, 3).every((c) => typeof c === 'string') && typeof row[3] === 'boolean',
      );
      const out = good.map(([a, b, c, d]) => [cleanString(a), cleanString(b), cleanString(c), d]);
      return good.length === value.length ? { value: out, problem: null } : { value: out, problem: `${spec.name} (a(sssb)): dropped ${value.length - good.length} malformed row(s)` };
    }
    case 'a(sss)': {
      if (!Array.isArray(value)) return bad(`not an array: ${describe(value)}`);
      const good = value.filter(
        (row): row is [string, string, string] => Array.isArray(row) && row.length === 3 && row.every((c) => typeof c === 'string'),
      );
      const out = good.map((row) => row.map(cleanString));
      return good.length === value.length ? { value: out, problem: null } : { value: out, problem: `${spec.name} (a(sss)): dropped ${value.length - good.length} malformed row(s)` };
    }
  }
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'array' : 'object') : String(value);
}

/** Deep equality over wire values (bigint-aware, arrays element-wise). */
export function sameValue(a: WireValue, b: WireValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i] as WireValue));
  }
  return a === b;
}

// ───────────────────────── introspection ─────────────────────────

export const INTROSPECT_DOCTYPE =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">';

const EMITS = 'org.freedesktop.DBus.Property.EmitsChangedSignal';

function comment(doc: string, indent: string, withDocs: boolean): string[] {
  return withDocs && doc ? [`${indent}<!-- ${doc.replace(/--/g, '- -')} -->`] : [];
}

function argLines(args: ArgSpec[], direction: 'in' | 'out' | null, indent: string, withDocs: boolean): string[] {
  return args.flatMap((a) => [
    ...comment(a.doc, indent, withDocs),
    `${indent}<arg name="${a.name}" type="${a.type}"${direction ? ` direction="${direction}"` : ''}/>`,
  ]);
}

/** One <interface> element, indented by `indent`. With docs, each member gets an XML comment. */
export function interfaceXml(spec: InterfaceSpec, indent = '  ', withDocs = false): string {
  const i1 = indent;
  const i2 = indent + '  ';
  const i3 = i2 + '  ';
  const lines = [...comment(spec.doc, i1, withDocs), `${i1}<interface name="${spec.name}">`];
  for (const m of spec.methods) {
    lines.push(...comment(m.doc, i2, withDocs));
    const args = [...argLines(m.in, 'in', i3, withDocs), ...argLines(m.out, 'out', i3, withDocs)];
    lines.push(...(args.length ? [`${i2}<method name="${m.name}">`, ...args, `${i2}</method>`] : [`${i2}<method name="${m.name}"/>`]));
  }
  for (const s of spec.signals) {
    lines.push(...comment(s.doc, i2, withDocs), `${i2}<signal name="${s.name}">`, ...argLines(s.args, null, i3, withDocs), `${i2}</signal>`);
  }
  for (const p of spec.properties) {
    lines.push(
      ...comment(p.doc, i2, withDocs),
      `${i2}<property name="${p.name}" type="${p.type}" access="read">`,
      `${i3}<annotation name="${EMITS}" value="${p.emits}"/>`,
      `${i2}</property>`,
    );
  }
  lines.push(`${i1}</interface>`);
  return lines.join('\n');
}

const STANDARD_XML = [
  '  <interface name="org.freedesktop.DBus.Introspectable">',
  '    <method name="Introspect">',
  '      <arg name="xml_data" type="s" direction="out"/>',
  '    </method>',
  '  </interface>',
  '  <interface name="org.freedesktop.DBus.Peer">',
  '    <method name="Ping"/>',
  '    <method name="GetMachineId">',
  '      <arg name="machine_uuid" type="s" direction="out"/>',
  '    </method>',
  '  </interface>',
].join('\n');

const PROPERTIES_XML = [
  '  <interface name="org.freedesktop.DBus.Properties">',
  '    <method name="Get">',
  '      <arg name="interface_name" type="s" direction="in"/>',
  '      <arg name="property_name" type="s" direction="in"/>',
  '      <arg name="value" type="v" direction="out"/>',
  '    </method>',
  '    <method name="GetAll">',
  '      <arg name="interface_name" type="s" direction="in"/>',
  '      <arg name="props" type="a{sv}" direction="out"/>',
  '    </method>',
  '    <method name="Set">',
  '      <arg name="interface_name" type="s" direction="in"/>',
  '      <arg name="property_name" type="s" direction="in"/>',
  '      <arg name="value" type="v" direction="in"/>',
  '    </method>',
  '    <signal name="PropertiesChanged">',
  '      <arg name="interface_name" type="s"/>',
  '      <arg name="changed_properties" type="a{sv}"/>',
  '      <arg name="invalidated_properties" type="as"/>',
  '    </signal>',
  '  </interface>',
].join('\n');

/** Answer to Introspect for a path: its interfaces (none for a pure parent node) and child node names. */
export function introspectDocument(interfaces: InterfaceSpec[], children: string[]): string {
  const parts = [INTROSPECT_DOCTYPE, '<node>', STANDARD_XML];
  if (interfaces.length > 0) parts.push(PROPERTIES_XML, ...interfaces.map((s) => interfaceXml(s)));
  parts.push(...children.map((c) => `  <node name="${c}"/>`), '</node>', '');
  return parts.join('\n');
}

/** The file installed as /usr/share/dbus-1/interfaces/<interface>.xml. */
export function interfaceFile(spec: InterfaceSpec): string {
  return [INTROSPECT_DOCTYPE, '<node>', interfaceXml(spec, '  ', true), '</node>', ''].join('\n');
}
