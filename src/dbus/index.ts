/** D-Bus service layer of pcie-passthroughd: what the daemon imports. */
export { startBusService, PLAN_LIMITS } from './service.js';
export { busError, type BusErrorKind } from './errors.js';
export { BUS_NAME, MANAGER_PATH, MANAGER_IFACE, DEVICE_IFACE, devicePath } from './names.js';
export type {
  BusHandlers, BusLog, BusService, BusTarget, DeviceProps, ManagerProps, ManagerState, PlanRow, PublishedState,
  StartBusOptions,
} from './types.js';
