/**
 * @module fetch
 * `step.fetch(url, init)`: a durable HTTP request. The engine performs it while the
 * function is not running (a `Gateway` op, as the official SDK reports it) and memoizes
 * `{ status_code, headers, body }`; the step resolves with a `Response` built from it, so
 * a later failure of the run never repeats the request. Every status is a result (check
 * `response.ok`); a network failure or timeout is a step error, retried.
 *
 * `fetch` (exported by the package) is a drop-in `fetch`: inside a function's handler it
 * is `step.fetch`; outside a run, or inside a `step.run`, it falls back to the global
 * `fetch` (or the `fallback` given to `fetch.config`).
 */

import { OpCode } from "@stepwise/protocol";
import { ambient, withAmbient } from "../execution/ambient.ts";
import type { StepRequest } from "../execution/call.ts";

/** The memo of a `step.fetch`, as the engine stores it. */
export interface GatewayResponse {
  status_code: number;
  headers: Record<string, string>;
  body: string;
}

export type StepFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Runs a handler with `step.fetch` as the target of the package's `fetch`. */
export function withStepFetch<T>(stepFetch: StepFetch, fn: () => T): T {
  return withAmbient({ fetch: stepFetch, executingStep: undefined }, fn);
}

/** Runs a step's work: the package's `fetch` falls back to a plain request inside it. */
export function insideStep<T>(stepId: string, fn: () => T): T {
  return withAmbient({ executingStep: stepId }, fn);
}

/** Statuses whose `Response` has no body. */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

function bodyOf(init: RequestInit | undefined, where: string): string | undefined {
  const body = init?.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return body;
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError(`${where}: "init.body" must be a string or URLSearchParams (the request is stored as JSON), got ${Object.prototype.toString.call(body)}`);
}

/** The step tool. */
export function createStepFetch(request: (r: StepRequest) => Promise<unknown>): StepFetch {
  return async function stepFetch(input, init) {
    const url = input instanceof Request ? input.url : input.toString();
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new TypeError(`step.fetch: "url" must be an absolute URL, got ${JSON.stringify(url)}`);
    }
    const id = `step.fetch: ${target.hostname}`;
    const headers: Record<string, string> = {};
    new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).forEach((value, name) => {
      headers[name] = value;
    });
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const body = bodyOf(init, `step.fetch("${id}")`);
    const opts: Record<string, unknown> = { url, method, headers, ...(body !== undefined ? { body } : {}) };
    const memo = (await request({ id, op: OpCode.Gateway, opts })) as GatewayResponse;
    const status = memo.status_code;
    return new Response(nullBodyStatuses.has(status) ? null : memo.body, { status, headers: memo.headers });
  };
}

interface FetchConfig {
  /** Used outside a run and inside a step's work; `undefined`: such calls throw. (Default: the global `fetch`.) */
  fallback?: typeof globalThis.fetch | undefined;
}

export type DurableFetch = StepFetch & {
  /** Sets the fallback; returns the same `fetch`. */
  config(options: FetchConfig): DurableFetch;
  fallback: typeof globalThis.fetch | undefined;
};

function createDurableFetch(): DurableFetch {
  const durable = (async (input: string | URL | Request, init?: RequestInit) => {
    const current = ambient();
    if (!current?.fetch || current.executingStep !== undefined) {
      const fallback = durable.fallback;
      if (!fallback) {
        throw new Error(
          current?.executingStep !== undefined
            ? `fetch: called inside step "${current.executingStep}" and no fallback is set`
            : "fetch: called outside a function run and no fallback is set",
        );
      }
      return fallback(input, init);
    }
    return current.fetch(input, init);
  }) as DurableFetch;
  durable.fallback = (...args: Parameters<typeof globalThis.fetch>) => globalThis.fetch(...args);
  durable.config = (options: FetchConfig) => {
    if ("fallback" in options) durable.fallback = options.fallback;
    return durable;
  };
  return durable;
}

/** A `fetch` that is `step.fetch` inside a run's handler and the global `fetch` elsewhere. */
export const fetch: DurableFetch = createDurableFetch();
