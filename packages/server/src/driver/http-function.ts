/**
 * @module http-function
 * A function served by an app over HTTP: a `FunctionHandle` whose `execute` sends an
 * Inngest call request (inngest-protocol §8.1, no checkpointing: no `ctx.fn_id`) and
 * turns the response back into an `ExecutionResult` (§8.2). The engine drives it exactly
 * as it drives an in-process function.
 *
 * Request version (§8.6): a run's first call sends -1 (the SDK chooses: v4 answers 2, v3
 * answers 1); the version in the answer's `x-inngest-req-version` is recorded for the run
 * and sent back, in the body and the header, on every later call.
 */
import {
  type ExecutionInput,
  type ExecutionResult,
  type FunctionConfig,
  type FunctionHandle,
  type Op,
  OpCode,
  resolveInstant,
  type SerializedError,
  signBody,
} from "@stepwise/protocol";
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
    const body = canonicalJson({
      event: input.event,
      events: input.events,
      steps: Object.fromEntries(input.memo),
      ctx: {
        run_id: input.runId,
        attempt: input.attempt,
        max_attempts: input.maxAttempts,
        disable_immediate_execution: input.targetStepId !== undefined,
        use_api: false,
        stack: { stack, current: stack.length },
      },
      version,
    });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-inngest-server-kind": this.options.serverKind,
      "x-inngest-req-version": String(version),
    };
    if (this.options.signingKey) headers["x-inngest-signature"] = signBody(body, this.options.signingKey);
    let response: Response;
    try {
      response = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (cause) {
      // no reply at all (refused, reset, DNS, a timeout before the headers): the app was not reachable
      const timedOut = (cause as Error).name === "TimeoutError";
      return unreachable(
        timedOut
          ? `calling ${url.origin}${url.pathname} timed out after ${this.options.timeoutMs} ms before the app answered`
          : `calling ${url.origin}${url.pathname} failed: ${causeMessage(cause)}`,
      );
    }
    return decodeResponse(response, `${url.origin}${url.pathname}`, input.now?.() ?? Date.now());
  }
}

/** The SDK answered, but not with a reply it could have meant: a failed attempt. */
function transportError(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "HttpTransportError", message }, retriable: true };
}

/** No SDK answered: retried on the app-outage backoff, spending no attempt. */
function unreachable(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "HttpTransportError", message }, retriable: true, unreachable: true };
}

/** undici's `fetch failed` hides the reason (ECONNREFUSED, ECONNRESET, …) in `cause`. */
function causeMessage(cause: unknown): string {
  const error = cause as Error & { cause?: Error & { code?: string } };
  const inner = error.cause;
  if (!inner) return error.message;
  return `${error.message} (${inner.code ?? inner.message})`;
}

const sdkAnswered = (headers: Headers) => !!(headers.get("x-inngest-sdk") || headers.get("x-inngest-sdk-handled"));

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
 * one; `now` (the engine's clock) dates a `retry-after`.
 */
export async function decodeResponse(response: Response, where: string, now = Date.now()): Promise<ExecutionResult> {
  const answered = { headers: response.headers };
  const result = await classify(response, where, now, answered);
  const version = Number(answered.headers.get("x-inngest-req-version") || Number.NaN);
  return Number.isInteger(version) && version >= 1 ? { ...result, requestVersion: version } : result;
}

/** `answered.headers` ends as the headers that apply: the envelope's, for a streamed reply. */
async function classify(response: Response, where: string, now: number, answered: { headers: Headers }): Promise<ExecutionResult> {
  let status = response.status;
  let headers = response.headers;
  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    // the connection dropped or timed out mid-reply: an attempt only if the SDK had answered
    const message = `${where} answered ${status} but the reply was cut short: ${causeMessage(cause)}`;
    return sdkAnswered(headers) ? transportError(message) : unreachable(message);
  }
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
    if (!Array.isArray(parsed)) return transportError(`${where} answered 206 without an array of ops`);
    const ops = parsed as Op[];
    const complete = ops.find((op) => op.op === OpCode.RunComplete);
    if (complete) return { type: "function-resolved", data: complete.data ?? null };
    return retryAt !== undefined ? { type: "steps", ops, retryAt } : { type: "steps", ops };
  }
  const error = toSerializedError(parsed, status);
  return retryAt !== undefined ? { type: "function-rejected", error, retriable: !noRetry, retryAt } : { type: "function-rejected", error, retriable: !noRetry };
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
