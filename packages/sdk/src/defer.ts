/**
 * @module defer
 * `createDefer(client, options, handler)`: a deferred function, started by `defer(id, {
 * function, data })` from another run once that run ends (the official SDK's
 * experimental API, `inngest/experimental`). It is a function like any other (its own
 * steps, retries, flow control) triggered by `inngest/deferred.schedule` events naming
 * it; its handler sees `event.data` as the caller passed it and `parents[0]`, the run
 * that deferred it.
 */
import { SystemEvent } from "@stepwise/protocol";
import type { ReceivedEvent } from "./events/types.ts";
import { type ClientLink, type Context, type FunctionOptions, StepwiseFunction } from "./function.ts";

/** The run that deferred this one: its function's composite id and its run id. */
export interface DeferParent {
  fnSlug: string;
  runId: string;
}

/** What a deferred function's handler receives: `event.data` is the caller's `data`. */
export type DeferContext<Data extends Record<string, unknown>> = Omit<Context, "event" | "events"> & {
  event: ReceivedEvent<typeof SystemEvent.DeferredSchedule, Data>;
  events: ReceivedEvent<typeof SystemEvent.DeferredSchedule, Data>[];
  /** The run that deferred this one (one per event). */
  parents: DeferParent[];
};

/** Options of `createDefer`: those of `createFunction` without `triggers`, `onFailure` and `batchEvents`. */
export type DeferOptions = Omit<FunctionOptions, "triggers" | "onFailure" | "batchEvents">;

/** A deferred function; `Data` types the `data` its callers pass to `defer()`. */
export class DeferredFunction<Data extends Record<string, unknown> = Record<string, unknown>, Output = unknown> extends StepwiseFunction<
  ReceivedEvent<typeof SystemEvent.DeferredSchedule, Data>,
  Output
> {
  /** Types only: the data `defer()` of this function takes. */
  declare readonly "~defer"?: Data;

  // biome-ignore lint/suspicious/noExplicitAny: any context
  protected override decorate(ctx: Context<any, any>): Context<any, any> {
    const parents: DeferParent[] = [];
    const strip = (event: ReceivedEvent) => {
      const { _inngest, ...data } = (event.data ?? {}) as Record<string, unknown>;
      const meta = (_inngest ?? {}) as { parent_fn_slug?: unknown; parent_run_id?: unknown };
      parents.push({ fnSlug: String(meta.parent_fn_slug ?? ""), runId: String(meta.parent_run_id ?? "") });
      return { ...event, data };
    };
    const events = (ctx.events as ReceivedEvent[]).map(strip);
    return Object.assign(ctx, { event: events[0] ?? ctx.event, events, parents });
  }
}

/**
 * Defines a deferred function of `client` (Inngest's `createDefer` from
 * `inngest/experimental`). Register it with the engine (or `serve()`) like any function.
 */
export function createDefer<Data extends Record<string, unknown> = Record<string, unknown>, R = unknown>(
  client: ClientLink,
  options: DeferOptions,
  handler: (ctx: DeferContext<Data>) => R,
): DeferredFunction<Data, R> {
  if (typeof handler !== "function") throw new TypeError(`createDefer("${options?.id}"): a handler function is required`);
  const { triggers: _t, onFailure: _f, batchEvents: _b, ...rest } = options as FunctionOptions;
  if (_t !== undefined || _f !== undefined || _b !== undefined) {
    throw new TypeError(`createDefer("${options.id}"): triggers, onFailure and batchEvents are not accepted (a deferred function is started by defer())`);
  }
  const id = `${client.id}-${rest.id}`;
  if (/['\\\n\r]/.test(id)) throw new TypeError(`createDefer: invalid id ${JSON.stringify(rest.id)} (no quotes, backslashes or newlines)`);
  return new DeferredFunction<Data, R>(
    client,
    rest,
    [{ event: SystemEvent.DeferredSchedule, if: `event.data._inngest.fn_slug == '${id}'` }],
    handler as unknown as (ctx: Context) => unknown,
  );
}
