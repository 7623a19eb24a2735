/**
 * @module middleware/runtime
 * Runs middleware: registration (v3 `init` once per client or function, v4 `onRegister`),
 * the hooks of one send, and the hooks of one call (`CallMiddleware`), which
 * `StepwiseFunction.execute` and `CallExecution` call at fixed points, the same
 * in-process and served.
 *
 * Order: entries run in registration order (client's, then the function's). As in
 * Inngest v3, `afterMemoization`, `afterExecution` and both `transformOutput` hooks run
 * in reverse order (the last registered first), so wrapping pairs nest like an onion;
 * v4 `wrap*` hooks nest with the first registered outermost.
 */
import type { EventPayload, FunctionHandle, Memo } from "@stepwise/protocol";
import type { BaseMiddleware, MiddlewareClass } from "./base.ts";
import {
  type FunctionRunHooks,
  InngestMiddleware,
  type MiddlewareClient,
  type MiddlewareRegisterReturn,
  type SendEventHooks,
  type TransformInputResult,
} from "./middleware.ts";
import type { MiddlewareStack } from "./types.ts";

/** A middleware entry once added to a client or function. */
export type RegisteredMiddleware = { kind: "v3"; name: string; hooks: Promise<MiddlewareRegisterReturn> } | { kind: "v4"; name: string; cls: MiddlewareClass };

/**
 * A hook threw. The call fails with this error (retried like any function error); its
 * message names the middleware and the hook, and `cause` is what was thrown.
 */
export class MiddlewareError extends Error {
  override readonly name = "MiddlewareError";
  constructor(
    readonly middleware: string,
    readonly hook: string,
    cause: unknown,
  ) {
    super(`middleware "${middleware}" failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Validates a `middleware` option and registers each entry (v3 `init`, v4 `onRegister`). */
export function registerMiddleware(
  entries: MiddlewareStack | undefined,
  client: MiddlewareClient,
  fn: FunctionHandle | null,
  field: string,
): RegisteredMiddleware[] {
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw new TypeError(`${field}: "middleware" must be an array, received ${typeof entries}`);
  return entries.map((entry: unknown, index): RegisteredMiddleware => {
    if (entry instanceof InngestMiddleware) {
      const hooks = (async () => {
        try {
          return (await entry.init(fn ? { client, fn } : { client })) ?? {};
        } catch (error) {
          throw new MiddlewareError(entry.name, "init", error);
        }
      })();
      hooks.catch(() => {}); // reported when a call or send awaits it
      return { kind: "v3", name: entry.name, hooks };
    }
    if (typeof entry === "function" && typeof entry.prototype === "object") {
      const cls = entry as MiddlewareClass;
      cls.onRegister?.({ client, fn });
      return { kind: "v4", name: cls.name || `middleware[${index}]`, cls };
    }
    throw new TypeError(`${field}: "middleware[${index}]" must be an InngestMiddleware or a class extending Middleware.BaseMiddleware`);
  });
}

/** Calls `fn` and wraps what it throws in a `MiddlewareError`. */
async function guarded<T>(middleware: string, hook: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof MiddlewareError) throw error;
    throw new MiddlewareError(middleware, hook, error);
  }
}

/** Creates this request's instance of a v4 class. */
function instantiate(entry: Extract<RegisteredMiddleware, { kind: "v4" }>, client: MiddlewareClient): BaseMiddleware {
  try {
    return new entry.cls({ client });
  } catch (error) {
    throw new MiddlewareError(entry.name, "constructor", error);
  }
}

/** Sends `payload` through the send hooks of `stack`, delivering with `deliver`. */
export async function sendWithMiddleware(
  stack: readonly RegisteredMiddleware[],
  client: MiddlewareClient,
  fn: FunctionHandle | null,
  payload: unknown,
  deliver: (payloads: unknown) => Promise<{ ids: string[] }>,
): Promise<{ ids: string[] }> {
  const layers: { name: string; v3?: SendEventHooks; v4?: BaseMiddleware }[] = [];
  for (const entry of stack) {
    if (entry.kind === "v3") {
      const registered = await entry.hooks;
      const hooks = registered.onSendEvent ? await guarded(entry.name, "onSendEvent", () => registered.onSendEvent?.()) : undefined;
      if (hooks) layers.push({ name: entry.name, v3: hooks });
    } else {
      layers.push({ name: entry.name, v4: instantiate(entry, client) });
    }
  }
  let payloads = (Array.isArray(payload) ? [...payload] : [payload]) as EventPayload[];
  for (const layer of layers) {
    const { v3, v4 } = layer;
    if (v3?.transformInput) {
      const out = await guarded(layer.name, "onSendEvent.transformInput", () => v3.transformInput?.({ payloads }));
      if (out?.payloads) payloads = out.payloads as EventPayload[];
    }
    if (v4?.transformSendEvent) {
      const out = await guarded(layer.name, "transformSendEvent", () => v4.transformSendEvent?.({ events: payloads, fn }));
      if (out?.events) payloads = out.events;
    }
  }
  let next = () => deliver(Array.isArray(payload) || payloads.length !== 1 ? payloads : payloads[0]);
  for (const layer of [...layers].reverse()) {
    const wrap = layer.v4?.wrapSendEvent?.bind(layer.v4);
    if (!wrap) continue;
    const inner = next;
    next = () => wrap({ events: payloads, fn, next: inner });
  }
  let result = await next();
  for (const layer of [...layers].reverse()) {
    const transform = layer.v3?.transformOutput?.bind(layer.v3);
    if (!transform) continue;
    const out = await guarded(layer.name, "onSendEvent.transformOutput", () => transform({ result, payloads }));
    if (out?.result) result = { ...result, ...out.result };
  }
  return result;
}

/** Unused until a call runs; see `CallMiddleware`. */
export type { FunctionRunHooks, Memo, TransformInputResult };
