/**
 * @module call-request
 * Reads an Inngest call request (inngest-protocol.md §8.1, §8.5, §8.9) into the
 * `ExecutionInput` a function executes: memo values are decoded the way the official
 * SDK reads them, `stepId` other than `"step"` targets one planned step, and with
 * `ctx.use_api` the events and memo are fetched from the server.
 */
import type { ExecutionInput, Memo, SerializedError, StoredEvent } from "@stepwise/protocol";
import { callApi } from "../http/api.ts";
import type { Connection } from "../http/env.ts";

export interface CallRequest {
  event: Record<string, unknown>;
  events: Array<Record<string, unknown>>;
  steps: Record<string, unknown>;
  /** The run's recorded defers by hashed id (`defer()`): not reported again. */
  defers?: Record<string, { abortable?: boolean }>;
  ctx: {
    run_id: string;
    attempt?: number;
    max_attempts?: number;
    disable_immediate_execution?: boolean;
    use_api?: boolean;
    /** The server's function id: present when the server takes checkpoints (inngest-protocol §10). */
    fn_id?: string;
    /** The claimed call the checkpoints belong to (the server fences them by it). */
    qi_id?: string;
  };
  version?: number;
}

/** A call request the SDK cannot read; answered as an internal error (500). */
export class CallRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CallRequestError";
  }
}

const acceptedVersions = new Set([-1, 1, 2]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses and checks a call request body; throws `CallRequestError` naming the field. */
export function parseCallRequest(body: string): CallRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (cause) {
    throw new CallRequestError(`Failed to parse data from executor: the body is not JSON (${(cause as Error).message})`, { cause });
  }
  const fail = (message: string): never => {
    throw new CallRequestError(`Failed to parse data from executor: ${message}`);
  };
  if (!isObject(parsed)) return fail("expected a JSON object");
  const { event, events = [], steps = {}, ctx, version } = parsed;
  if (!isObject(event)) fail(`"event" must be an object`);
  if (!Array.isArray(events) || !events.every(isObject)) fail(`"events" must be an array of objects`);
  if (!isObject(steps)) fail(`"steps" must be an object of memoized step results`);
  if (!isObject(ctx) || typeof ctx.run_id !== "string") fail(`"ctx.run_id" must be a string`);
  if (version !== undefined && !acceptedVersions.has(version as number)) fail(`"version" must be -1, 1 or 2, received ${JSON.stringify(version)}`);
  return parsed as unknown as CallRequest;
}

/**
 * One `steps` value as the official SDK reads it: exactly `{data}` or `{error}` (each
 * optionally with `type`) unwrap; `{input}` is not a result (undefined); `{}` and a
 * non-object `error` are an "Unknown error"; any other value is the result itself.
 */
export function memoFromWire(value: unknown): Memo | undefined {
  if (!isObject(value)) return { data: value };
  const keys = Object.keys(value).filter((key) => key !== "type");
  if (keys.length === 0) return { error: { name: "Error", message: "Unknown error" } };
  if (keys.length === 1 && keys[0] === "data" && (value.type ?? "data") === "data") return { data: value.data };
  if (keys.length === 1 && keys[0] === "input" && (value.type ?? "input") === "input") return undefined;
  if (keys.length === 1 && keys[0] === "error" && (value.type ?? "error") === "error") {
    const error = value.error;
    if (isObject(error) && typeof error.message === "string") {
      return { error: { ...error, name: typeof error.name === "string" ? error.name : "Error", message: error.message } as SerializedError };
    }
    return { error: { name: "Error", message: "Unknown error" } };
  }
  return { data: value };
}

/** `defers` as the server sends it: `{ [hashedId]: { abortable } }` (a missing `abortable` is true). */
function wireDefers(raw: Record<string, unknown>): Record<string, { abortable: boolean }> {
  const defers: Record<string, { abortable: boolean }> = {};
  for (const [id, value] of Object.entries(raw)) defers[id] = { abortable: !(isObject(value) && value.abortable === false) };
  return defers;
}

function toStoredEvent(raw: Record<string, unknown>): StoredEvent {
  return { ...raw, data: (raw.data ?? {}) as Record<string, unknown>, user: (raw.user ?? {}) as Record<string, unknown> } as StoredEvent;
}

/** The execution input for a call; `stepId` is the query's (`"step"` = run the handler). */
export function toExecutionInput(request: CallRequest, stepId: string): ExecutionInput {
  const memo = new Map<string, Memo>();
  for (const [id, value] of Object.entries(request.steps)) {
    const decoded = memoFromWire(value);
    if (decoded) memo.set(id, decoded);
  }
  const event = toStoredEvent(request.event);
  const events = request.events.length > 0 ? request.events.map(toStoredEvent) : [event];
  const maxAttempts = request.ctx.max_attempts;
  return {
    runId: request.ctx.run_id,
    event,
    events,
    memo,
    attempt: typeof request.ctx.attempt === "number" ? request.ctx.attempt : 0,
    // Without max_attempts the SDK cannot tell the last attempt; the server enforces it.
    maxAttempts: typeof maxAttempts === "number" && maxAttempts > 0 ? maxAttempts : Number.POSITIVE_INFINITY,
    ...(stepId !== "step" ? { targetStepId: stepId } : {}),
    ...(request.ctx.disable_immediate_execution ? { disableImmediateExecution: true } : {}),
    ...(isObject(request.defers) ? { defers: wireDefers(request.defers) } : {}),
  };
}

async function getJson(connection: Connection, path: string, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await callApi(connection, { method: "GET", path });
  } catch (cause) {
    throw new CallRequestError(`Failed to retrieve ${what}: ${(cause as Error).message}`, { cause });
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok || body === undefined) {
    const reason = isObject(body) && typeof body.error === "string" ? body.error : text.slice(0, 200);
    throw new CallRequestError(`Failed to retrieve ${what}: ${response.status} ${reason}`);
  }
  return body;
}

/**
 * `ctx.use_api`: the body was too large, so events and memo come from
 * `GET /v0/runs/:id/batch` and `/actions`. `event` stays the body's, as in the official SDK.
 */
export async function loadFromApi(connection: Connection, request: CallRequest): Promise<CallRequest> {
  const runId = encodeURIComponent(request.ctx.run_id);
  const [events, steps] = await Promise.all([
    getJson(connection, `/v0/runs/${runId}/batch`, `list of events for run ${request.ctx.run_id}`),
    getJson(connection, `/v0/runs/${runId}/actions`, `step results for run ${request.ctx.run_id}`),
  ]);
  if (!Array.isArray(events) || !events.every(isObject)) throw new CallRequestError(`Failed to retrieve list of events: expected a JSON array of events`);
  if (!isObject(steps)) throw new CallRequestError(`Failed to retrieve step results: expected a JSON object of memoized steps`);
  return { ...request, events, steps };
}
