/** What the daemon hands to the D-Bus layer (plain data) and what it gets back. */

export type ManagerState = 'starting' | 'ready' | 'degraded' | 'failed';

export interface ManagerProps {
  Version: string;
  State: ManagerState;
  IommuEnabled: boolean;
  IommuKind: string;
  IommuGroupCount: number;
  InterruptRemapping: string;
  /** (name, pass|warn|fail, message) */
  Checks: [string, string, string][];
  ConfigPath: string;
  ConfigError: string;
  ManagedCount: number;
  BoundCount: number;
  /** µs since the epoch (D-Bus type t); 0n before the first reconcile. */
  LastReconcile: bigint;
}

export interface DeviceProps {
  Address: string;
  /** D-Bus q */
  VendorId: number;
  DeviceId: number;
  SubsystemVendorId: number;
  SubsystemDeviceId: number;
  /** D-Bus u, 24-bit class code */
  Class: number;
  Name: string;
  Driver: string;
  DriverOverride: string;
  /** D-Bus i, -1 when the device has no IOMMU group */
  IommuGroup: number;
  Managed: boolean;
  TargetDriver: string;
  /** bound | pending | blocked | failed | missing | host | dead */
  State: string;
  Reason: string;
  GroupViable: boolean;
  /** reset_method as the kernel lists it ("flr bus"); empty when absent or disabled */
  ResetMethod: string;
  Resettable: boolean;
  /** (check, pass|warn|fail, message) from src/health/ */
  Health: [string, string, string][];
  OpenByVm: boolean;
  /** early | late | none: how this boot's claim went (early claims) */
  Claim: string;
  ClaimReason: string;
  /** D-Bus a(sssb): (source pve | libvirt, guest id, guest name, starts at boot). */
  UsedBy: [source: string, id: string, name: string, onboot: boolean][];
}

export interface PublishedState {
  manager: ManagerProps;
  devices: DeviceProps[];
}

/** D-Bus a(sss): (address, action or result, message). */
export type PlanRow = [address: string, action: string, message: string];

export interface BusHandlers {
  /** Anyone may call: what a reconcile would do now. */
  plan(): Promise<PlanRow[]>;
  /** Root only: run a reconcile now, return what was done (address, result, message). */
  reconcile(): Promise<PlanRow[]>;
  /** Root only: re-read the config, then reconcile. */
  reload(): Promise<void>;
}

export interface BusLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface BusService {
  /**
   * Publish a new state: PropertiesChanged with only the changed properties (one signal per
   * object), InterfacesAdded/Removed for device objects that appear/disappear, nothing when
   * nothing changed.
   */
  update(state: PublishedState): void;
  /** Signal Reconciled(u changes, s state) on Manager1. */
  emitReconciled(changes: number, state: string): void;
  /** Release the name and disconnect; onLost does not fire for this. */
  close(): Promise<void>;
  /** The bus connection was lost (the daemon decides: reconnect or exit non-zero). */
  onLost(cb: (err: Error) => void): void;
}

export type BusTarget = 'system' | 'session' | { address: string };

export interface StartBusOptions {
  bus: BusTarget;
  handlers: BusHandlers;
  initial: PublishedState;
  log?: BusLog;
  /** Keep retrying RequestName on AccessDenied this long (the policy file may arrive late). Default 5000. */
  requestNameRetryMs?: number;
}
