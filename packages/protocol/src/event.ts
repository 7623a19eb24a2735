/**
 * @module event
 * The event shape and its validation. Validation names the event's index and the field,
 * so a rejected batch tells the sender exactly what to fix; a rejected batch stores nothing.
 */
import { StepwiseError } from "./errors.ts";
import { formatBytes, limits } from "./limits.ts";
import { type EventMeta, validateEventMeta } from "./meta.ts";

/** What a sender passes to `send`. */
export interface EventPayload<Data = Record<string, unknown>> {
  name: string;
  data?: Data;
  user?: Record<string, unknown>;
  /** Idempotency key: a second event with the same id within 24 h triggers nothing. */
  id?: string;
  /** Unix ms; defaults to the time the event is received. A future `ts` delays the runs it starts. */
  ts?: number;
  v?: string;
  /** Sessions and other event metadata, kept as sent (see `meta.ts`). */
  meta?: EventMeta;
}

/** An event as stored and as functions see it. */
export interface StoredEvent<Data = Record<string, unknown>> {
  /** The sender's `id` when given, otherwise the internal id. */
  id: string;
  name: string;
  data: Data;
  user: Record<string, unknown>;
  ts: number;
  v?: string;
  meta?: EventMeta;
}

/** Reserved prefix for events the engine emits itself. */
export const systemEventPrefix = "inngest/";

export const SystemEvent = {
  FunctionFailed: "inngest/function.failed",
  FunctionFinished: "inngest/function.finished",
  FunctionCancelled: "inngest/function.cancelled",
  FunctionInvoked: "inngest/function.invoked",
  ScheduledTimer: "inngest/scheduled.timer",
  /** Starts a deferred function (`defer()`) once its parent run ended; `data._inngest.fn_slug` names it. */
  DeferredSchedule: "inngest/deferred.schedule",
} as const;

const minTs = Date.UTC(1980, 0, 1);
const maxTs = Date.UTC(2100, 0, 1);

export interface ValidateEventOptions {
  maxBytes?: number;
  /** Allow names under `inngest/` (only the engine's own events may). */
  allowSystem?: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return typeof value;
}

/**
 * Throws naming the first place where `value` is not what its JSON is (what the store
 * keeps): non-finite numbers (stored as null), Maps and Sets (stored as `{}`), bigints,
 * functions and symbols, and `undefined` in arrays. Nested values with a `toJSON` (a Date)
 * are stored as their JSON, which must itself be JSON.
 */
function checkJson(value: unknown, path: string, fail: (message: string) => never, depth = 0): void {
  if (depth > 200) fail(`${path}: nested deeper than 200 levels`);
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) fail(`${path}: ${value} is not a JSON number (it would be stored as null)`);
      return;
    case "undefined":
      return;
    case "bigint":
    case "function":
    case "symbol":
      fail(`${path}: a ${typeof value} is not JSON`);
  }
  if (value === null) return;
  if (value instanceof Map || value instanceof Set) fail(`${path}: a ${value.constructor.name} is not JSON (it would be stored as {})`);
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
    checkJson((value as { toJSON(): unknown }).toJSON(), path, fail, depth + 1);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (v === undefined || typeof v === "function" || typeof v === "symbol") fail(`${path}[${i}]: ${typeof v} is not JSON (it would be stored as null)`);
      checkJson(v, `${path}[${i}]`, fail, depth + 1);
    });
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === "function" || typeof v === "symbol") fail(`${path}.${k}: a ${typeof v} is not JSON (it would be dropped)`);
    checkJson(v, `${path}.${k}`, fail, depth + 1);
  }
}

/** An object field (data, user) as it will be stored: a plain object whose JSON is itself. */
function jsonObject(value: unknown, field: string, fail: (message: string) => never): Record<string, unknown> {
  const proto = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (!isPlainObject(value) || (proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    fail(`"${field}" must be an object, received ${describe(value)}`);
  }
  checkJson(value, field, fail);
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/**
 * Checks one event and returns it with defaults filled (`data: {}`, `user: {}`).
 * Throws `StepwiseError("invalid_event")` naming `where` and the field.
 */
export function validateEvent(
  input: unknown,
  where = "event",
  options: ValidateEventOptions = {},
): EventPayload & { data: Record<string, unknown>; user: Record<string, unknown> } {
  const fail = (message: string): never => {
    throw new StepwiseError("invalid_event", `${where}: ${message}`);
  };
  if (!isPlainObject(input)) fail(`expected an object, received ${input === null ? "null" : Array.isArray(input) ? "an array" : typeof input}`);
  const event = input as Record<string, unknown>;
  if (typeof event.name !== "string" || event.name.trim() === "") fail(`"name" is required and must be a non-empty string`);
  const name = event.name as string;
  if (!options.allowSystem && name.startsWith(systemEventPrefix)) {
    fail(`"name" ${JSON.stringify(name)} uses the reserved prefix "${systemEventPrefix}"; only Stepwise emits those events`);
  }
  const data = event.data === undefined || event.data === null ? {} : jsonObject(event.data, "data", fail);
  const user = event.user === undefined || event.user === null ? {} : jsonObject(event.user, "user", fail);
  if (event.id !== undefined && event.id !== null && (typeof event.id !== "string" || event.id === "")) fail(`"id" must be a non-empty string`);
  if (event.ts !== undefined && event.ts !== null) {
    if (typeof event.ts !== "number" || !Number.isFinite(event.ts)) fail(`"ts" must be a number of unix milliseconds`);
    if ((event.ts as number) < minTs || (event.ts as number) > maxTs) fail(`"ts" ${event.ts} is outside 1980-01-01..2100-01-01 (expected unix milliseconds)`);
  }
  if (event.v !== undefined && event.v !== null && typeof event.v !== "string") fail(`"v" must be a string`);
  const meta = validateEventMeta(event.meta, where);
  const out = {
    name,
    data,
    user,
    ...(typeof event.id === "string" ? { id: event.id } : {}),
    ...(typeof event.ts === "number" ? { ts: event.ts } : {}),
    ...(typeof event.v === "string" ? { v: event.v } : {}),
    ...(meta ? { meta: jsonObject(meta, "meta", fail) as EventMeta } : {}),
  };
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(out));
  } catch (cause) {
    throw new StepwiseError("invalid_event", `${where}: "data" is not JSON-serializable (${(cause as Error).message})`, { cause });
  }
  const max = options.maxBytes ?? limits.eventBytes;
  if (size > max) {
    throw new StepwiseError("limit_exceeded", `${where}: event "${name}" is ${formatBytes(size)}; the limit is ${formatBytes(max)}`);
  }
  return out;
}

/** Validates one event or an array of them (≤ 5,000); all or nothing. */
export function validateEvents(input: unknown, options: ValidateEventOptions = {}) {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new StepwiseError("invalid_event", "send: expected at least one event, received an empty array");
  if (list.length > limits.eventsPerSend) {
    throw new StepwiseError("limit_exceeded", `send: ${list.length} events in one call; the limit is ${limits.eventsPerSend}`);
  }
  return list.map((event, i) => validateEvent(event, Array.isArray(input) ? `events[${i}]` : "event", options));
}
