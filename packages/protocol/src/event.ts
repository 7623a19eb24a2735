/**
 * @module event
 * The event shape and its validation. Validation names the event's index and the field,
 * so a rejected batch tells the sender exactly what to fix; a rejected batch stores nothing.
 */
import { StepwiseError } from "./errors.ts";
import { formatBytes, limits } from "./limits.ts";

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
}

/** Reserved prefix for events the engine emits itself. */
export const systemEventPrefix = "inngest/";

export const SystemEvent = {
  FunctionFailed: "inngest/function.failed",
  FunctionFinished: "inngest/function.finished",
  FunctionCancelled: "inngest/function.cancelled",
  FunctionInvoked: "inngest/function.invoked",
  ScheduledTimer: "inngest/scheduled.timer",
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
  if (event.data !== undefined && event.data !== null && !isPlainObject(event.data)) {
    fail(`"data" must be an object, received ${Array.isArray(event.data) ? "an array" : typeof event.data}`);
  }
  if (event.user !== undefined && event.user !== null && !isPlainObject(event.user)) fail(`"user" must be an object`);
  if (event.id !== undefined && event.id !== null && (typeof event.id !== "string" || event.id === "")) fail(`"id" must be a non-empty string`);
  if (event.ts !== undefined && event.ts !== null) {
    if (typeof event.ts !== "number" || !Number.isFinite(event.ts)) fail(`"ts" must be a number of unix milliseconds`);
    if ((event.ts as number) < minTs || (event.ts as number) > maxTs) fail(`"ts" ${event.ts} is outside 1980-01-01..2100-01-01 (expected unix milliseconds)`);
  }
  if (event.v !== undefined && event.v !== null && typeof event.v !== "string") fail(`"v" must be a string`);
  const out = {
    name,
    data: (event.data ?? {}) as Record<string, unknown>,
    user: (event.user ?? {}) as Record<string, unknown>,
    ...(typeof event.id === "string" ? { id: event.id } : {}),
    ...(typeof event.ts === "number" ? { ts: event.ts } : {}),
    ...(typeof event.v === "string" ? { v: event.v } : {}),
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
