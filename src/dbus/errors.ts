/** D-Bus error names and the mapping from anything a handler throws to a safe error reply. */
import { DBusError } from 'dbus-next';

export const ERROR_PREFIX = 'org.pciepassthroughd.Error.';

export type BusErrorKind = 'Failed' | 'InvalidConfig' | 'NoIommu' | 'Busy';

export const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';
export const UNKNOWN_OBJECT = 'org.freedesktop.DBus.Error.UnknownObject';
export const UNKNOWN_INTERFACE = 'org.freedesktop.DBus.Error.UnknownInterface';
export const UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod';
export const UNKNOWN_PROPERTY = 'org.freedesktop.DBus.Error.UnknownProperty';
export const PROPERTY_READ_ONLY = 'org.freedesktop.DBus.Error.PropertyReadOnly';
export const INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs';
export const LIMITS_EXCEEDED = 'org.freedesktop.DBus.Error.LimitsExceeded';
export const FAILED = `${ERROR_PREFIX}Failed`;

/** For handlers: `throw busError('InvalidConfig', 'config.toml:3:1: unknown key "x"')`. */
export function busError(kind: BusErrorKind, message: string): Error {
  return new DBusError(`${ERROR_PREFIX}${kind}`, message);
}

export interface ErrorReply {
  name: string;
  message: string;
}

function isDBusError(err: unknown): err is { type: string; text: string } {
  return (
    typeof err === 'object' && err !== null &&
    (err as { name?: unknown }).name === 'DBusError' &&
    typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { text?: unknown }).text === 'string'
  );
}

/**
 * What a caller sees for an exception: a DBusError keeps its name and text; anything else becomes
 * org.pciepassthroughd.Error.Failed with the error's message only (never the stack, which dbus-next
 * would otherwise send to the caller).
 */
export function toErrorReply(err: unknown): ErrorReply {
  if (isDBusError(err)) return { name: err.type, message: err.text };
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : `unexpected ${typeof err} thrown`;
  return { name: FAILED, message: message || 'internal error (no message)' };
}
