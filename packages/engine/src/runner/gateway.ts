/**
 * @module gateway
 * Performs the HTTP requests of `step.fetch` (`Gateway` ops) and `step.ai.infer`
 * (`AIGateway` ops) while the function is not running, and turns each op into the step
 * outcome the transition stores: a `StepRun` whose data is the memo the SDK expects, or
 * a `StepError` / `StepFailed` the function's (or step's) retry policy applies to.
 *
 * Memo shapes (as Inngest stores them):
 * - `Gateway`   → `{ status_code, headers, body }`, `body` the response text. Every HTTP
 *   status is a result: the SDK hands the function a `Response` with that status.
 * - `AIGateway` → the provider's JSON response (2xx only).
 *
 * Failures:
 * - network errors and timeouts (`GatewayOptions.timeoutMs`) → `StepError`, retried;
 * - `AIGateway` non-2xx: 408, 409, 429 and 5xx → `StepError` (retried); any other 4xx →
 *   `StepFailed` (a bad request or key does not get better by retrying);
 * - a bad op (no valid `url`) or a response past the step result limit → `StepFailed`.
 *
 * Secrets: the op's `auth_key`, credential headers and credential query parameters are
 * used for the request and never stored: the step's input keeps a redacted copy.
 */
import { formatBytes, limits, type Op, OpCode, type SerializedError, StepwiseError } from "@stepwise/protocol";

export interface GatewayOptions {
  /** Longest one `step.fetch` / `step.ai.infer` request may take before it fails (and is retried). (Default: 120,000 ms.) */
  timeoutMs?: number;
  /** The fetch implementation used for the requests. (Default: the global `fetch`.) */
  fetch?: typeof globalThis.fetch;
}

export const defaultGatewayTimeoutMs = 120_000;

/** `EngineOptions.gateway`, each field checked (errors name it). */
export function checkedGatewayOptions(given: GatewayOptions): GatewayOptions {
  if (typeof given !== "object" || given === null) throw new StepwiseError("invalid_argument", "gateway: expected an object ({ timeoutMs?, fetch? })");
  const { timeoutMs, fetch } = given;
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1)) {
    throw new StepwiseError("invalid_argument", `gateway.timeoutMs: expected a whole number of milliseconds ≥ 1, received ${JSON.stringify(timeoutMs)}`);
  }
  if (fetch !== undefined && typeof fetch !== "function") throw new StepwiseError("invalid_argument", "gateway.fetch: expected a fetch function");
  return { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(fetch ? { fetch } : {}) };
}

/** Marks, in a converted op's opts, which gateway op it came from; the step record keeps that op code. */
export const gatewayOpt = "gateway";

const gatewayOps: ReadonlySet<string> = new Set([OpCode.Gateway, OpCode.AIGateway]);

export function isGatewayOp(op: Op): boolean {
  return gatewayOps.has(op.op);
}

/** The step input shown for a performed gateway op: the request, redacted. */
export function gatewayInput(op: Op): unknown {
  const opts = op.opts ?? {};
  return typeof opts[gatewayOpt] === "string" ? (opts.request ?? null) : undefined;
}

/** The op code a converted gateway op stands for (its step record keeps it), if any. */
export function gatewayOpCode(op: Op): OpCode | undefined {
  const code = op.opts?.[gatewayOpt];
  return code === OpCode.Gateway || code === OpCode.AIGateway ? code : undefined;
}

/** Replaces each gateway op of a result with its performed outcome; other results pass unchanged. */
export async function performGateways<R extends { type: string; ops?: Op[] }>(result: R, options: GatewayOptions, signal: AbortSignal): Promise<R> {
  if (result.type !== "steps" || !result.ops?.some(isGatewayOp)) return result;
  const ops = await Promise.all(result.ops.map((op) => (isGatewayOp(op) ? performGateway(op, options, signal) : op)));
  return { ...result, ops };
}

/** Headers whose values are credentials: used, never stored. */
const secretHeader = /^(authorization|proxy-authorization|cookie|set-cookie)$|api[-_]?key|auth|token|secret|password|session/i;
/** Query parameters whose values are credentials (Gemini's `?key=`, signed URLs). */
const secretParam = /^(key|sig|signature|code)$|api[-_]?key|token|secret|password|auth/i;
const redacted = "[redacted]";

/** The URL with credential query parameters replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = parsed.username ? redacted : "";
      parsed.password = "";
    }
    for (const name of [...parsed.searchParams.keys()]) if (secretParam.test(name)) parsed.searchParams.set(name, redacted);
    return parsed.href;
  } catch {
    return url.replace(/([?&][^=&]*(?:key|token|secret|sig)[^=&]*=)[^&]*/gi, `$1${redacted}`);
  }
}

function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, secretHeader.test(name) ? redacted : value]));
}

interface PreparedRequest {
  url: string;
  init: { method: string; headers: Record<string, string>; body?: string };
  /** What is stored as the step's input. */
  shown: Record<string, unknown>;
  /** The credentials in the request: scrubbed from every stored message (a provider may echo them). */
  secrets: string[];
}

/** The credentials a request carries: the key, secret header values, secret query values. */
function secretsOf(url: string, headers: Record<string, string>, key: string): string[] {
  const found = new Set<string>();
  if (key) found.add(key);
  for (const [name, value] of Object.entries(headers)) {
    if (!secretHeader.test(name)) continue;
    found.add(value);
    const bearer = /^\S+\s+(\S+)$/.exec(value);
    if (bearer?.[1]) found.add(bearer[1]);
  }
  try {
    for (const [name, value] of new URL(url).searchParams) if (secretParam.test(name)) found.add(value);
  } catch {}
  return [...found].filter((s) => s.length >= 4);
}

/** `text` with each secret replaced. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(redacted);
  return out;
}

class BadGatewayOp extends Error {
  override readonly name = "GatewayRequestError";
}

function stringHeaders(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new BadGatewayOp(`${field} must be an object of header values`);
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    headers[name] = String(v);
  }
  return headers;
}

function checkedUrl(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw new BadGatewayOp(`${field} must be an http(s) URL`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new BadGatewayOp(`${field} is not a valid URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new BadGatewayOp(`${field} must use http or https, got ${parsed.protocol}`);
  return value;
}

/** The model an AI request names: the body's `model`, or Gemini's path segment. */
function modelOf(url: string, body: unknown): string | undefined {
  if (body && typeof body === "object" && typeof (body as { model?: unknown }).model === "string") return (body as { model: string }).model;
  const match = /\/models\/([^/:?]+):/.exec(url);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** How each provider format authenticates with `auth_key`. */
function authHeaders(format: string, key: string): Record<string, string> {
  if (key === "") return {};
  switch (format) {
    case "anthropic":
      return { "x-api-key": key };
    case "gemini":
      return { "x-goog-api-key": key };
    case "azure-openai":
      return { "api-key": key };
    default:
      return { authorization: `Bearer ${key}` };
  }
}

function prepare(op: Op): PreparedRequest {
  const opts = op.opts ?? {};
  if (op.op === OpCode.Gateway) {
    const url = checkedUrl(opts.url, "opts.url");
    const method = typeof opts.method === "string" && opts.method !== "" ? opts.method.toUpperCase() : "GET";
    const headers = stringHeaders(opts.headers, "opts.headers");
    const body = opts.body === undefined || opts.body === null ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    const init = { method, headers, ...(body !== undefined && method !== "GET" && method !== "HEAD" ? { body } : {}) };
    return {
      url,
      init,
      shown: { url: redactUrl(url), method, headers: redactHeaders(headers), ...(body !== undefined ? { body } : {}) },
      secrets: secretsOf(url, headers, ""),
    };
  }
  const url = checkedUrl(opts.url, "opts.url");
  const format = typeof opts.format === "string" ? opts.format : "openai-chat";
  const key = typeof opts.auth_key === "string" ? opts.auth_key : "";
  const given = stringHeaders(opts.headers, "opts.headers");
  const headers = { "content-type": "application/json", ...authHeaders(format, key), ...given };
  const body = JSON.stringify(opts.body ?? {});
  const model = modelOf(url, opts.body);
  return {
    url,
    init: { method: "POST", headers, body },
    shown: {
      url: redactUrl(url),
      format,
      ...(model ? { model } : {}),
      headers: redactHeaders(given),
      ...(key ? { auth_key: redacted } : {}),
      body: opts.body ?? {},
    },
    secrets: secretsOf(url, headers, key),
  };
}

function outcome(op: Op, code: OpCode, prepared: PreparedRequest | undefined, startedAt: number, result: { data: unknown } | { error: SerializedError }): Op {
  const shown = prepared?.shown;
  const timing = { a: startedAt * 1e6, b: (Date.now() - startedAt) * 1e6 };
  const type = op.op === OpCode.Gateway ? "step.fetch" : "step.ai.infer";
  const converted: Op = {
    id: op.id,
    op: code,
    ...(op.name !== undefined ? { name: op.name } : {}),
    ...(op.displayName !== undefined ? { displayName: op.displayName } : {}),
    ...(op.userland ? { userland: op.userland } : {}),
    // only what routing needs; the request is kept redacted
    opts: {
      [gatewayOpt]: op.op,
      type,
      ...(op.opts?.parallelMode ? { parallelMode: op.opts.parallelMode } : {}),
      ...(shown ? { request: shown } : {}),
    },
    timing,
  };
  if ("error" in result) converted.error = { ...result.error, message: scrub(result.error.message, prepared?.secrets ?? []) };
  else converted.data = result.data;
  return converted;
}

/** Statuses of a provider worth retrying. */
function retriableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function excerpt(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** Performs one gateway op. */
export async function performGateway(op: Op, options: GatewayOptions, signal: AbortSignal): Promise<Op> {
  const startedAt = Date.now();
  const tool = op.op === OpCode.Gateway ? "step.fetch" : "step.ai.infer";
  const where = `${tool}("${op.userland?.id ?? op.displayName ?? op.id}")`;
  let prepared: PreparedRequest;
  try {
    prepared = prepare(op);
  } catch (error) {
    return outcome(op, OpCode.StepFailed, undefined, startedAt, { error: { name: "GatewayRequestError", message: `${where}: ${(error as Error).message}` } });
  }
  const timeoutMs = options.timeoutMs ?? defaultGatewayTimeoutMs;
  const shownUrl = prepared.shown.url as string;
  const timeout = AbortSignal.timeout(timeoutMs);
  const fetcher = options.fetch ?? globalThis.fetch;
  let response: Response;
  let text: string;
  try {
    response = await fetcher(prepared.url, { ...prepared.init, signal: AbortSignal.any([timeout, signal]), redirect: "follow" });
    text = await response.text();
  } catch (error) {
    const timedOut = timeout.aborted;
    const message = timedOut
      ? `${where}: ${prepared.init.method} ${shownUrl} did not answer within ${timeoutMs} ms`
      : `${where}: ${prepared.init.method} ${shownUrl} failed: ${causeOf(error)}`;
    return outcome(op, OpCode.StepError, prepared, startedAt, { error: { name: timedOut ? "GatewayTimeoutError" : "GatewayError", message } });
  }
  if (Buffer.byteLength(text) > limits.stepResultBytes) {
    return outcome(op, OpCode.StepFailed, prepared, startedAt, {
      error: {
        name: "GatewayError",
        message: `${where}: the response of ${shownUrl} is ${formatBytes(Buffer.byteLength(text))}, past the ${formatBytes(limits.stepResultBytes)} limit of a step result`,
      },
    });
  }
  if (op.op === OpCode.Gateway) {
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return outcome(op, OpCode.StepRun, prepared, startedAt, { data: { status_code: response.status, headers, body: text } });
  }
  if (!response.ok) {
    const error = { name: "AIGatewayError", message: `${where}: ${shownUrl} answered ${response.status}: ${excerpt(text)}` };
    return outcome(op, retriableStatus(response.status) ? OpCode.StepError : OpCode.StepFailed, prepared, startedAt, { error });
  }
  try {
    return outcome(op, OpCode.StepRun, prepared, startedAt, { data: JSON.parse(text) });
  } catch {
    return outcome(op, OpCode.StepError, prepared, startedAt, {
      error: { name: "AIGatewayError", message: `${where}: ${shownUrl} answered ${response.status} with a body that is not JSON: ${excerpt(text)}` },
    });
  }
}

function causeOf(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message ?? "fetch failed"} (${cause})` : (e?.message ?? String(error));
}
