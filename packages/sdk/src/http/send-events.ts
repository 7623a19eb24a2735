/**
 * @module send-events
 * `client.send` over HTTP: `POST {eventBase}/e/{eventKey}` with a JSON array of events,
 * answered `{ ids, status: 200 }` (inngest-protocol.md §7). Events are validated here
 * first, so a bad event fails at once with a message naming its index and field.
 * Network errors, 5xx, 429 and malformed replies are retried (5 attempts, 100 ms
 * exponential backoff with jitter); other 4xx replies fail at once. Sent inside an active
 * OpenTelemetry span, the request carries its W3C `traceparent` (the runs join its trace).
 */
import { randomBytes } from "node:crypto";
import { context, isSpanContextValid, propagation, trace } from "@opentelemetry/api";
import { type ErrorCode, StepwiseError, validateEvents } from "@stepwise/protocol";
import { type Connection, devEventKey, envVars } from "./env.ts";
import { sdkHeaders } from "./sdk-info.ts";

export interface SendEventsOptions {
  /** Who is sending, for error messages (the client id). */
  appId: string;
  attempts?: number;
  baseDelayMs?: number;
}

/** The official SDK's messages for replies without an `error` text. */
const statusMessages: Record<number, string> = {
  400: "Cannot process event payload",
  401: "Event key not found",
  403: "Forbidden",
  404: "Event key not found",
  409: "Event transformation failed",
  412: "Event transformation failed",
  413: "Event payload too large",
  500: "Internal server error",
};

function codeForStatus(status: number): ErrorCode {
  if (status === 400) return "invalid_event";
  if (status === 413) return "limit_exceeded";
  if (status === 401 || status === 403 || status === 404) return "invalid_config";
  return "internal";
}

/** The URL events are posted to: `e/<key>` relative to the event base. */
export function eventUrl(connection: Connection, appId: string): URL {
  const key = connection.eventKey ?? (connection.mode === "dev" ? devEventKey : undefined);
  if (!key) {
    throw new StepwiseError(
      "not_registered",
      `client "${appId}" has nowhere to send events: pass it to engine.register({ client, functions }) first, or give it an event key ({ eventKey } or ${envVars.eventKey}) to send to a server (${envVars.dev}=1 for a local dev server)`,
    );
  }
  return new URL(`e/${encodeURIComponent(key)}`, connection.eventBaseUrl);
}

/** `"<unix ms>,<base64 of 10 random bytes>"`: lets the server give a retried request the same ids. */
function eventIdSeed(): string {
  return `${Date.now()},${randomBytes(10).toString("base64")}`;
}

/**
 * The W3C trace headers of the span active now (none without one): the server starts the
 * runs these events trigger inside that span's trace. Through the registered propagator,
 * else `traceparent` from the active span itself.
 */
function traceHeaders(): Record<string, string> {
  const active = context.active();
  const span = trace.getSpanContext(active);
  if (!span || !isSpanContextValid(span)) return {};
  const headers: Record<string, string> = {};
  propagation.inject(active, headers);
  headers.traceparent ??= `00-${span.traceId}-${span.spanId}-0${span.traceFlags & 1}`;
  return headers;
}

class RetriableSendError extends Error {}

export async function sendEvents(connection: Connection, payload: unknown, options: SendEventsOptions): Promise<{ ids: string[] }> {
  validateEvents(payload);
  const list = (Array.isArray(payload) ? payload : [payload]) as Array<Record<string, unknown>>;
  const now = Date.now();
  const body = JSON.stringify(list.map((event) => ({ ...event, data: event.data ?? {}, ts: event.ts ?? now })));
  const url = eventUrl(connection, options.appId);
  const headers = {
    "content-type": "application/json",
    ...sdkHeaders(),
    "x-inngest-event-id-seed": eventIdSeed(),
    ...(connection.env ? { "x-inngest-env": connection.env } : {}),
    ...traceHeaders(),
  };
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const where = `client "${options.appId}": sending ${list.length} event${list.length === 1 ? "" : "s"} to ${url.href}`;
  let last: Error | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
    try {
      return await postOnce(url, headers, body, where);
    } catch (error) {
      if (!(error instanceof RetriableSendError)) throw error;
      last = error;
    }
  }
  throw new StepwiseError("internal", `${last?.message} (after ${attempts} attempts)`, { cause: last?.cause ?? last });
}

async function postOnce(url: URL, headers: Record<string, string>, body: string, where: string): Promise<{ ids: string[] }> {
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers, body });
  } catch (cause) {
    throw new RetriableSendError(`${where} failed: ${(cause as Error).message}; is the server running?`, { cause });
  }
  const text = await response.text();
  let reply: { ids?: unknown; status?: unknown; error?: unknown } | undefined;
  try {
    reply = JSON.parse(text);
  } catch {
    reply = undefined;
  }
  if (response.ok && reply?.status === 200 && reply.error === undefined && Array.isArray(reply.ids)) return { ids: reply.ids.map(String) };
  const status = typeof reply?.status === "number" && reply.status !== 200 ? reply.status : response.status;
  const message = typeof reply?.error === "string" ? reply.error : (statusMessages[status] ?? `unexpected reply ${JSON.stringify(text.slice(0, 200))}`);
  const failure = `${where} failed: ${status} ${message}`;
  if (status >= 500 || status === 429 || reply === undefined || (response.ok && reply.status === undefined)) throw new RetriableSendError(failure);
  throw new StepwiseError(codeForStatus(status), failure);
}
