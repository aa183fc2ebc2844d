/** What the host's persistent network configuration says about one interface (pure data). */

/** An interface as the configuration picks it: by name, or by what systemd/NetworkManager match on. */
export interface NetSelector {
  /** Interface names; systemd-style globs (`en*`) where the format allows them. */
  names?: string[];
  /** MAC addresses, lower case. */
  macs?: string[];
  /** udev ID_PATH globs, e.g. "pci-0000:04:00.0". */
  paths?: string[];
  /** Kernel driver name globs. */
  drivers?: string[];
}

export interface NetConfigUse {
  selector: NetSelector;
  file: string;
  line: number;
  /** Clause after the interface name, e.g. "is a port of vmbr0", "is configured (iface eno1 inet static)". */
  why: string;
  /** Which tool reads the file: "ifupdown", "systemd-networkd", "NetworkManager". */
  tool: string;
}

/** A systemd .link file: interfaces it matches get `name`. */
export interface LinkRename {
  selector: NetSelector;
  /** OriginalName= globs (the kernel's name before udev renamed it). */
  originalNames: string[];
  name: string | null;
  file: string;
}

/** A present network interface on a PCI device, as sysfs shows it. */
export interface NetDevice {
  name: string;
  address: string;
  mac: string | null;
  driver: string | null;
}
