/**
 * @module http-function
 * A function served by an app over HTTP: a `FunctionHandle` whose `execute` sends an
 * Inngest call request (inngest-protocol §8.1) and turns the response back into an
 * `ExecutionResult` (§8.2). The engine drives it exactly as it drives an in-process
 * function.
 *
 * Checkpointing (§10): when the engine checkpoints the call, the request carries
 * `ctx.fn_id` and `ctx.qi_id` (the engine's `callId`: the claimed queue item and its
 * lease token), and the SDK runs step after step in one request, posting each to
 * `POST /v1/checkpoint/{runId}/async`, which hands them to `Engine.checkpoint`. The answer
 * then holds only what the SDK could not do in-process; steps it still holds (buffered,
 * or not checkpointed) before a `RunComplete` are persisted here through the same
 * checkpoint callback before the run completes.
 *
 * Every call carries `x-request-id` (new per request) and `x-inngest-job-id` (the queue
 * item), which the SDK shows to middleware as `ctx.requestId` and `ctx.jobId`; with
 * tracing on, `traceparent` (the call's span), so the app's spans join the run's trace.
 *
 * Request version (§8.6): a run's first call sends -1 (the SDK chooses: v4 answers 2, v3
 * answers 1); the version in the answer's `x-inngest-req-version` is recorded for the run
 * and sent back, in the body and the header, on every later call.
 */

import { randomUUID } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import {
  type ExecutionInput,
  type ExecutionResult,
  eventForFunction,
  type FunctionConfig,
  type FunctionHandle,
  type Op,
  OpCode,
  resolveInstant,
  type SerializedError,
  signBody,
} from "@stepwise/protocol";
import { traceServedCall } from "../tracing.ts";
import { canonicalJson } from "./canonical-json.ts";

export interface HttpFunctionOptions {
  config: FunctionConfig;
  /** The registered step URL (`…?fnId=<id>&stepId=step`). */
  url: string;
  signingKey?: string;
  serverKind: "dev" | "cloud";
  /** A hung app call fails (and is retried) after this long. */
  timeoutMs: number;
}

/** Bytes of a failed response kept in the error, for the run log. */
const bodyExcerpt = 2_000;

export class HttpFunction implements FunctionHandle {
  readonly config: FunctionConfig;

  constructor(private readonly options: HttpFunctionOptions) {
    this.config = options.config;
  }

  get url(): string {
    return this.options.url;
  }

  async execute(input: ExecutionInput): Promise<ExecutionResult> {
    const url = new URL(this.options.url);
    url.searchParams.set("fnId", this.config.id);
    url.searchParams.set("stepId", input.targetStepId ?? "step");
    const stack = [...input.memo.keys()];
    const version = input.requestVersion ?? -1;
    const checkpointing = input.checkpoint !== undefined && input.callId !== undefined && input.targetStepId === undefined;
    const requestId = randomUUID();
    const body = canonicalJson({
      // `meta.sessions` with inherited sessions merged in: what the SDK reads for `ctx.sessions`
      event: eventForFunction(input.event),
      events: input.events.map(eventForFunction),
      steps: Object.fromEntries(input.memo),
      ...(input.defers && Object.keys(input.defers).length ? { defers: input.defers } : {}),
      ctx: {
        run_id: input.runId,
        attempt: input.attempt,
        max_attempts: input.maxAttempts,
        disable_immediate_execution: input.targetStepId !== undefined || input.parallel === true,
        use_api: false,
        stack: { stack, current: stack.length },
        ...(checkpointing ? { fn_id: this.config.id, qi_id: input.callId } : {}),
      },
      version,
    });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-inngest-server-kind": this.options.serverKind,
      "x-inngest-req-version": String(version),
      "x-request-id": requestId,
    };
    const jobId = input.callId?.slice(0, input.callId.lastIndexOf("."));
    if (jobId) headers["x-inngest-job-id"] = jobId;
    if (this.options.signingKey) headers["x-inngest-signature"] = signBody(body, this.options.signingKey);
    const where = `${url.origin}${url.pathname}`;
    const traced = traceServedCall(headers, where, input.runId);
    const reply = await post(url, headers, body, this.options.timeoutMs);
    traced?.("failure" in reply ? undefined : reply.status);
    if ("failure" in reply) return reply.answered ? transportError(`${where}: ${reply.failure}`) : unreachable(`calling ${where} ${reply.failure}`);
    return classifyReply(reply, where, input.now?.() ?? Date.now(), input.checkpoint);
  }
}

/**
 * Connections to apps are kept alive and reused: a served call costs one request on a
 * warm socket, not a TCP handshake. (`fetch` reuses sockets too, but its web-streams
 * plumbing costs more per call than `node:http` on a keep-alive agent.) Idle sockets are
 * closed after 4 s, before the usual 5 s server keep-alive timeout closes them under us.
 */
const agentOptions = { keepAlive: true, timeout: 4_000, scheduling: "lifo" as const };
const agents = { "http:": new HttpAgent(agentOptions), "https:": new HttpsAgent(agentOptions) };

/** What came back from the app: a status, headers and the whole body. */
export interface Reply {
  status: number;
  headers: HeaderLookup;
  text: string;
}

/** Header access shared by fetch `Headers` and node's header objects. */
interface HeaderLookup {
  get(name: string): string | null;
}

/**
 * POSTs `body`; resolves with the reply, or with why there is none. `answered`: the app's
 * SDK had sent its headers before the failure (a body cut short or too slow: an attempt);
 * otherwise no SDK answered (an outage). A socket the app closed while it sat idle in the
 * pool (a reset before any reply on a reused socket) is retried once on a fresh one.
 */
function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Reply | { failure: string; answered: boolean }> {
  return send("POST", url, headers, body, timeoutMs);
}

/** `post` with any method; a `GET` or `HEAD` sends no body. */
export function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  retried = false,
): Promise<Reply | { failure: string; answered: boolean }> {
  return new Promise((resolve) => {
    const agent = url.protocol === "https:" ? agents["https:"] : agents["http:"];
    let answered = false;
    let settled = false;
    const finish = (value: Reply | { failure: string; answered: boolean }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const bodyless = method === "GET" || method === "HEAD";
    const sized = bodyless ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) };
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method, agent, headers: sized }, (response) => {
      const lookup = nodeHeaders(response.headers);
      answered = sdkAnswered(lookup);
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => finish({ status: response.statusCode ?? 0, headers: lookup, text: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", (error) => finish({ failure: `answered ${response.statusCode} but the reply was cut short: ${causeMessage(error)}`, answered }));
      response.on("close", () => {
        if (!response.complete) finish({ failure: `answered ${response.statusCode} but the reply was cut short`, answered });
      });
    });
    const timer = setTimeout(() => {
      request.destroy();
      finish({
        failure: answered ? `took longer than ${timeoutMs} ms to finish its reply` : `timed out after ${timeoutMs} ms before the app answered`,
        answered,
      });
    }, timeoutMs);
    request.on("error", (error: Error & { code?: string }) => {
      if (settled) return;
      if (!retried && request.reusedSocket && error.code === "ECONNRESET" && !answered) {
        settled = true;
        clearTimeout(timer);
        resolve(send(method, url, headers, body, timeoutMs, true));
        return;
      }
      finish({ failure: `failed: ${causeMessage(error)}`, answered });
    });
    if (bodyless) request.end();
    else request.end(body);
  });
}

function nodeHeaders(headers: IncomingHttpHeaders): HeaderLookup {
  return {
    get(name) {
      const value = headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

/** The SDK answered, but not with a reply it could have meant: a failed attempt. */
export function transportError(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "HttpTransportError", message }, retriable: true };
}

/** No SDK answered: retried on the app-outage backoff, spending no attempt. */
export function unreachable(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "HttpTransportError", message }, retriable: true, unreachable: true };
}

/** undici's `fetch failed` hides the reason (ECONNREFUSED, ECONNRESET, …) in `cause`. */
function causeMessage(cause: unknown): string {
  const error = cause as Error & { cause?: Error & { code?: string } };
  const inner = error.cause;
  if (!inner) return error.message;
  return `${error.message} (${inner.code ?? inner.message})`;
}

const sdkAnswered = (headers: HeaderLookup) => !!(headers.get("x-inngest-sdk") || headers.get("x-inngest-sdk-handled"));

function retryAtFrom(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return now + Number(header) * 1000;
  try {
    return resolveInstant(header, now, "retry-after");
  } catch {
    return undefined;
  }
}

/**
 * Classifies a call response (§8.2), reading the streamed envelope (§8.11) when there is
 * one; `now` (the engine's clock) dates a `retry-after`. A `206` holding `RunComplete`
 * with steps before it (§10.2) persists each through `checkpoint` before the run
 * completes; without `checkpoint`, or with ops the engine cannot run, the call fails with
 * an error naming them (never silently completes without them).
 */
export async function decodeResponse(response: Response, where: string, now = Date.now(), checkpoint?: (op: Op) => Promise<void>): Promise<ExecutionResult> {
  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    // the connection dropped or timed out mid-reply: an attempt only if the SDK had answered
    const message = `${where} answered ${response.status} but the reply was cut short: ${causeMessage(cause)}`;
    return sdkAnswered(response.headers) ? transportError(message) : unreachable(message);
  }
  return classifyReply({ status: response.status, headers: response.headers, text }, where, now, checkpoint);
}

export async function classifyReply(reply: Reply, where: string, now: number, checkpoint?: (op: Op) => Promise<void>): Promise<ExecutionResult> {
  const answered = { headers: reply.headers };
  const result = await complete(classify(reply, where, now, answered), checkpoint);
  const version = Number(answered.headers.get("x-inngest-req-version") || Number.NaN);
  return Number.isInteger(version) && version >= 1 ? { ...result, requestVersion: version } : result;
}

/** `answered.headers` ends as the headers that apply: the envelope's, for a streamed reply. */
function classify(reply: Reply, where: string, now: number, answered: { headers: HeaderLookup }): ExecutionResult {
  let { status, headers, text } = reply;
  if (status === 201) {
    try {
      const envelope = JSON.parse(text.trim()) as { status: number; headers?: Record<string, string>; body: string };
      status = envelope.status;
      headers = new Headers(envelope.headers ?? {});
      answered.headers = headers;
      text = envelope.body;
    } catch {
      return transportError(`${where} answered 201 with a streamed body that is not an envelope: ${text.slice(0, bodyExcerpt)}`);
    }
  }
  if (!sdkAnswered(headers)) {
    // the official SDK's own error reply before its handler ran (a `wrapRequest` middleware
    // threw): `500 { type: "internal", name, message }` without its headers. The app answered,
    // so it is an error of this attempt, not an outage.
    const internal = sdkInternalError(status, text);
    if (internal) return { type: "function-rejected", error: internal, retriable: true };
    // a proxy's 502/503/504, a starting server's placeholder, a wrong URL: no SDK answered
    return unreachable(`${where} answered ${status} without Inngest SDK headers (a proxy or a wrong URL?): ${text.slice(0, bodyExcerpt)}`);
  }
  const noRetry = headers.get("x-inngest-no-retry") === "true";
  const retryAt = retryAtFrom(headers.get("retry-after"), now);
  let parsed: unknown = null;
  if (text.trim() !== "") {
    try {
      parsed = JSON.parse(text);
    } catch {
      if (status === 200) return transportError(`${where} answered 200 with a body that is not JSON: ${text.slice(0, bodyExcerpt)}`);
      parsed = { name: "Error", message: text.slice(0, bodyExcerpt) };
    }
  }
  if (status === 200) return { type: "function-resolved", data: parsed };
  if (status === 206) {
    // a durable endpoint's re-entry answers its end as one op, not an array of them
    const single = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) && typeof (parsed as Op).op === "string";
    if (!Array.isArray(parsed) && !single) return transportError(`${where} answered 206 without an array of ops`);
    const ops = (single ? [parsed] : parsed) as Op[];
    return retryAt !== undefined ? { type: "steps", ops, retryAt } : { type: "steps", ops };
  }
  const error = toSerializedError(parsed, status);
  return retryAt !== undefined ? { type: "function-rejected", error, retriable: !noRetry, retryAt } : { type: "function-rejected", error, retriable: !noRetry };
}

/** Steps that may come before a `RunComplete`: persisted like checkpoints. */
const persistable: ReadonlySet<string> = new Set([OpCode.StepRun, OpCode.StepFailed]);

/** Turns a `206` holding `RunComplete` into the run's completion, after persisting the steps before it. */
async function complete(result: ExecutionResult, checkpoint: ((op: Op) => Promise<void>) | undefined): Promise<ExecutionResult> {
  if (result.type !== "steps") return result;
  const done = result.ops.find((op) => op.op === OpCode.RunComplete);
  if (!done) return result;
  // defers ride along the return: the engine records and schedules them as the run ends
  const deferred = result.ops.filter((op) => op.op === OpCode.DeferAdd || op.op === OpCode.DeferAbort);
  const others = result.ops.filter((op) => op.op !== OpCode.RunComplete && !deferred.includes(op));
  const unsupported = others.filter((op) => !persistable.has(op.op));
  if (!checkpoint && others.length) unsupported.unshift(...others.filter((op) => persistable.has(op.op)));
  for (const op of others) if (checkpoint && persistable.has(op.op)) await checkpoint(op);
  if (unsupported.length) {
    const names = unsupported.map((op) => `${op.op} (step "${op.userland?.id ?? op.displayName ?? op.id}")`).join(", ");
    return {
      type: "function-rejected",
      error: { name: "UnsupportedStepError", message: `the function completed with ${names}, which this engine does not run yet` },
      retriable: false,
    };
  }
  return { type: "function-resolved", data: done.data ?? null, ...(deferred.length ? { deferred } : {}) };
}

function sdkInternalError(status: number, text: string): SerializedError | undefined {
  if (status !== 500) return undefined;
  try {
    const body = JSON.parse(text) as Record<string, unknown> | null;
    if (body?.type !== "internal" || typeof body.message !== "string") return undefined;
    return toSerializedError(body, status);
  } catch {
    return undefined;
  }
}

function toSerializedError(body: unknown, status: number): SerializedError {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const message = typeof b.message === "string" ? b.message : typeof b.error === "string" ? b.error : JSON.stringify(body).slice(0, bodyExcerpt);
    const error: SerializedError = { name: typeof b.name === "string" ? b.name : "Error", message };
    if (typeof b.stack === "string") error.stack = b.stack;
    return error;
  }
  return { name: "Error", message: `the app answered ${status}` };
}
