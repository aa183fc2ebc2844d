/** The public D-Bus names of pcie-passthroughd (DESIGN.md "Names"; monitoring relies on them). */

export const BUS_NAME = 'org.pciepassthroughd';
export const MANAGER_PATH = '/org/pciepassthroughd';
export const DEVICES_PATH = '/org/pciepassthroughd/devices';

export const MANAGER_IFACE = 'org.pciepassthroughd.Manager1';
export const DEVICE_IFACE = 'org.pciepassthroughd.Device1';

export const PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties';
export const INTROSPECTABLE_IFACE = 'org.freedesktop.DBus.Introspectable';
export const PEER_IFACE = 'org.freedesktop.DBus.Peer';
export const OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager';

/**
 * Object path of a device: every character a path element may not hold becomes "_",
 * so "0000:01:00.0" → ".../pci_0000_01_00_0" (the spelling of libvirt's nodedev names).
 */
export function devicePath(address: string): string {
  return `${DEVICES_PATH}/pci_${address.replace(/[^A-Za-z0-9]/g, '_')}`;
}
