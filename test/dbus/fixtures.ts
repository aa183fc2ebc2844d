/** Plain-data states fed to the service in the D-Bus tests. */
import type { DeviceProps, ManagerProps, PublishedState } from '../../src/dbus/types.js';

export function manager(over: Partial<ManagerProps> = {}): ManagerProps {
  return {
    Version: '0.1.0-test',
    State: 'ready',
    IommuEnabled: true,
    IommuKind: 'intel-vt-d',
    IommuGroupCount: 17,
    InterruptRemapping: 'enabled',
    Checks: [['dmar-table', 'pass', 'ACPI DMAR table present']],
    ConfigPath: '/etc/pcie-passthroughd/config.toml',
    ConfigError: '',
    ManagedCount: 2,
    BoundCount: 1,
    LastReconcile: 1795497249395000n,
    ...over,
  };
}

export function device(address: string, over: Partial<DeviceProps> = {}): DeviceProps {
  return {
    Address: address,
    VendorId: 0x10de,
    DeviceId: 0x1b80,
    SubsystemVendorId: 0x1462,
    SubsystemDeviceId: 0x3362,
    Class: 0x030000,
    Name: 'NVIDIA Corporation GP104 [GeForce GTX 1080]',
    Driver: 'vfio-pci',
    DriverOverride: 'vfio-pci',
    IommuGroup: 12,
    Managed: true,
    TargetDriver: 'vfio-pci',
    State: 'bound',
    Reason: 'bound to vfio-pci',
    GroupViable: true,
    ResetMethod: 'bus',
    Resettable: true,
    Health: [['reset', 'pass', 'reset methods: bus']],
    OpenByVm: false,
    Claim: 'early',
    ClaimReason: 'claimed at boot (/etc/pcie-passthroughd/config.toml:3); never on a host driver',
    UsedBy: [['pve', '100', 'win11', true]],
    ...over,
  };
}

export function state(over: Partial<PublishedState> = {}): PublishedState {
  return {
    manager: manager(),
    devices: [
      device('0000:01:00.0'),
      device('0000:01:00.1', { DeviceId: 0x10f0, Class: 0x040300, Name: 'NVIDIA HD Audio', State: 'pending', Driver: 'snd_hda_intel', Reason: 'waiting' }),
    ],
    ...over,
  };
}
