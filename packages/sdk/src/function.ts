/**
 * @module function
 * A function made by `createFunction`: its validated config and `execute`, which runs
 * one call of the handler. Drivers (in-process or HTTP) call `execute`; users never do.
 */

import type { Logger, RealtimeBus } from "@stepwise/protocol";
import {
  type CheckpointingOptions,
  deserializeError,
  type EventMeta,
  type ExecutionInput,
  type ExecutionResult,
  type FunctionConfig,
  type FunctionHandle,
  runSessions,
  type SendEventsOptions,
  type SerializedError,
  StepwiseError,
  SystemEvent,
  stampSessions,
  type Trigger,
  validateEventMeta,
  validateFunctionConfig,
} from "@stepwise/protocol";
import { NonRetriableError } from "./errors.ts";
import type { EventMap, ReceivedEvent, TriggersInput, UntypedEvents } from "./events/types.ts";
import { type SchemaRegistry, validateIncomingEvents } from "./events/validate.ts";
import { CallExecution } from "./execution/call.ts";
import type { DeferHandle } from "./execution/defers.ts";
import type { MiddlewareStack } from "./middleware/index.ts";
import { CallMiddleware, type RegisteredMiddleware, registerMiddleware, sendWithMiddleware } from "./middleware/runtime.ts";
import type { TopicRef } from "./realtime/channel.ts";
import { withRunContext } from "./realtime/run-context.ts";
import { withStepFetch } from "./step/fetch.ts";
import { group } from "./step/group.ts";
import { createStepTools, type StepTools } from "./step/index.ts";
import { stampAll, stampInvoke, withSessions } from "./step/sessions.ts";

/**
 * What a handler receives. `Event` is the triggering event's type (the union over the
 * function's triggers); `E` is the client's event map, which types the step tools.
 */
export interface Context<Event = ReceivedEvent, E extends EventMap = UntypedEvents> {
  /** The (first) event that triggered this run. */
  event: Event;
  /** Every triggering event (more than one for batches). */
  events: Event[];
  step: StepTools<E>;
  /** `group.parallel({ mode: "race" }, fn)`: the official SDK's group tools (also exported as `group`). */
  group: typeof group;
  runId: string;
  /** Zero-based attempt of the step (or call) being retried. */
  readonly attempt: number;
  logger: Logger;
  /** Aborted when the engine gives this call up (its lease was lost); pass it to `fetch` and the like. */
  signal: AbortSignal;
  /**
   * The run's sessions (key → id): those all its triggering events are in (`meta.sessions`,
   * with inherited ones). Events sent with `step.sendEvent` and runs started with
   * `step.invoke` inherit them. Absent when there are none.
   */
  sessions?: Record<string, string>;
  /**
   * `defer(id, { function, data, meta? })`: start `function` (made by `createDefer`) with
   * `data` once this run ends, Completed or Failed (docs/step-tools.md#defer). The deferred
   * run inherits this run's sessions; `meta.sessions` overrides them per key (a `null` cuts
   * one). Fire-and-forget: returns `{ abort() }`, which keeps that deferred run from starting.
   */
  defer: DeferFn;
}

/** See `Context.defer`. */
export type DeferFn = <Data extends Record<string, unknown>>(
  id: string,
  options: { function: { readonly config: FunctionConfig; readonly "~defer"?: Data }; data: Data; meta?: EventMeta },
) => DeferHandle;

/** The data of the `inngest/function.failed` event: `event` is the failed run's triggering event. */
export interface FailureEventData<Event = ReceivedEvent> {
  function_id: string;
  run_id: string;
  error: SerializedError;
  event: Event;
}

/** What an `onFailure` handler receives: `event` is the `inngest/function.failed` event. */
export interface FailureContext<Event = ReceivedEvent, E extends EventMap = UntypedEvents>
  extends Context<ReceivedEvent<"inngest/function.failed", FailureEventData<Event>>, E> {
  /** The run's final error, rebuilt. */
  error: Error;
}

export type Handler<Event = ReceivedEvent, E extends EventMap = UntypedEvents> = (ctx: Context<Event, E>) => unknown;

/** Options of `createFunction`. Flow-control keys are validated now and enforced by the engine. */
export interface FunctionOptions<
  Event = ReceivedEvent,
  E extends EventMap = UntypedEvents,
  T = TriggersInput<E>,
  TMiddleware extends MiddlewareStack = MiddlewareStack,
> extends Partial<Omit<FunctionConfig, "id" | "slug" | "appId" | "triggers" | "name" | "retries">> {
  /** Stable id; never change it once runs exist. */
  id: string;
  name?: string;
  /** Retries per step and per call, 0–20. (Default: 4, i.e. 5 attempts.) */
  retries?: number;
  /** Runs once when a run of this function fails for good. */
  onFailure?: (ctx: FailureContext<Event, E>) => unknown;
  /** The v4 form: triggers inside the options (event names, `{ cron }`, or `eventType(...)`s). */
  triggers?: T;
  /**
   * Inngest's checkpointing option, validated and kept in the config. In-process runs
   * always checkpoint each step as it ends; served functions currently use the classic
   * protocol, where every step is a round trip.
   */
  checkpointing?: CheckpointingOptions;
  /**
   * Middleware for this function only, run after the client's (docs/middleware.md).
   * Context fields they add are typed in this function's handler.
   */
  middleware?: TMiddleware;
}

export interface ClientLink {
  readonly id: string;
  readonly logger: Logger;
  /** The client's middleware, initialized once per client. */
  readonly middleware?: readonly RegisteredMiddleware[];
  send(events: unknown): Promise<{ ids: string[] }>;
  /** Sends without running the client's middleware (`execute` has run the function's, which include them). */
  deliver?(events: unknown): Promise<{ ids: string[] }>;
  /** @internal Schemas of the event types the client's functions are triggered by (checked on send). */
  readonly eventSchemas?: SchemaRegistry;
  /** Sends a signal through the server's API (served `step.sendSignal`). */
  sendSignal?(options: { signal: string; data?: unknown }): Promise<{ runId: string | undefined }>;
  /** Publishes a realtime message: the bound engine's bus, else the server's API. */
  publishRealtime?(ref: TopicRef, data: unknown, where: string, runId?: string, bus?: RealtimeBus): Promise<unknown>;
}

/**
 * A function. `Event` is what its handler receives and `Output` what it returns; both
 * type `step.invoke` of it.
 */
export class StepwiseFunction<Event = ReceivedEvent, Output = unknown> implements FunctionHandle {
  readonly config: FunctionConfig;
  readonly companions: FunctionHandle[];
  /** The client's middleware, then this function's. */
  private readonly middleware: readonly RegisteredMiddleware[];
  /** Types only (absent at runtime): what `step.invoke` of this function takes and returns. */
  declare readonly "~types"?: { event: Event; output: Output };
  /** Schemas of the trigger event types, checked on the events a run receives. */
  private readonly receiveSchemas: SchemaRegistry;

  constructor(
    private readonly client: ClientLink,
    // biome-ignore lint/suspicious/noExplicitAny: options of any event type
    options: FunctionOptions<any, any, any>,
    triggers: Trigger[],
    // biome-ignore lint/suspicious/noExplicitAny: the handler is typed by createFunction
    private readonly handler: (ctx: Context<any, any>) => unknown,
    receiveSchemas: SchemaRegistry = new Map(),
  ) {
    if (!options || typeof options.id !== "string") throw new TypeError(`createFunction: options.id is required, received ${JSON.stringify(options?.id)}`);
    const { onFailure, triggers: _t, id, name, retries, middleware, ...rest } = options;
    this.config = validateFunctionConfig({
      ...rest,
      id: `${client.id}-${id}`,
      slug: id,
      appId: client.id,
      name: name ?? id,
      triggers,
      retries: retries ?? 4,
    });
    this.middleware = [...(client.middleware ?? []), ...registerMiddleware(middleware, client, this, `createFunction("${id}")`)];
    this.companions = onFailure ? [failureFunction(client, this.config, onFailure, middleware)] : [];
    this.receiveSchemas = receiveSchemas;
  }

  /**
   * Runs one call of the handler (drivers call this, in-process and served alike).
   * With middleware: `onFunctionRun` and `transformInput` first, then the call with
   * its hooks (see `CallExecution`), then `beforeResponse`.
   */
  execute(input: ExecutionInput): Promise<ExecutionResult> {
    if (this.middleware.length === 0) {
      const call = new CallExecution(input);
      const ctx = this.decorate(this.baseContext(input, call, (events, options) => this.sendFromStep(input, events, options)));
      return call.run(() =>
        withSessions(ctx.sessions, () =>
          this.receive(ctx, () => withRunContext({ runId: input.runId, bus: input.realtime }, () => withStepFetch(ctx.step.fetch, () => this.handler(ctx)))),
        ),
      );
    }
    return this.executeWithMiddleware(input);
  }

  private async executeWithMiddleware(input: ExecutionInput): Promise<ExecutionResult> {
    const send = (events: unknown, options?: SendEventsOptions) =>
      sendWithMiddleware(this.middleware, this.client, this, events, (payloads) => this.sendFromStep(input, payloads, options));
    let mw: CallMiddleware;
    let call: CallExecution;
    try {
      mw = await CallMiddleware.start(this.middleware, this.client, this, input);
      call = new CallExecution(input, mw);
      mw.ctx = this.decorate(this.baseContext(input, call, send)) as unknown as Context;
      call.useMemo(await mw.transformInput(input.memo));
    } catch (error) {
      return new CallExecution(input).reject(error);
    }
    const hooks = mw;
    const ctx = hooks.ctx as unknown as Context;
    const inherit = ctx.sessions;
    const result = await call.run(
      hooks.wrapHandler(() =>
        withSessions(inherit, () =>
          this.receive(ctx, () =>
            withRunContext({ runId: input.runId, bus: input.realtime }, () =>
              withStepFetch(ctx.step.fetch, () => this.handler(hooks.ctx as unknown as Context)),
            ),
          ),
        ),
      ),
    );
    try {
      await hooks.beforeResponse();
    } catch (error) {
      return call.reject(error);
    }
    return result;
  }

  private baseContext(input: ExecutionInput, call: CallExecution, send: (events: unknown, options?: SendEventsOptions) => Promise<{ ids: string[] }>): Context {
    const sendSignal = async (signal: string, data: unknown): Promise<{ runId: string | undefined }> => {
      if (!input.sendSignal) {
        if (!this.client.sendSignal) throw new Error("step.sendSignal: this client cannot send signals");
        return this.client.sendSignal({ signal, data });
      }
      try {
        return await input.sendSignal(signal, data);
      } catch (error) {
        // no run waits on the signal: not an error of the step (as with the official client)
        if (StepwiseError.is(error) && error.code === "not_found") return { runId: undefined };
        throw error;
      }
    };
    const sessions = runSessions(input.events);
    const inherit = Object.keys(sessions).length ? sessions : undefined;
    const publish = (ref: TopicRef, data: unknown, where: string) => {
      if (!this.client.publishRealtime) throw new Error(`${where}: this client cannot publish`);
      return this.client.publishRealtime(ref, data, where, input.runId, input.realtime);
    };
    const step = createStepTools(
      (request) => call.step(inherit ? stampInvoke(request, inherit) : request),
      inherit ? (events, options) => send(stampAll(events, inherit), options) : send,
      this.client.eventSchemas,
      sendSignal,
      publish,
    );
    return {
      ...(inherit ? { sessions: inherit } : {}),
      event: input.event as ReceivedEvent,
      events: input.events as ReceivedEvent[],
      step,
      group,
      runId: input.runId,
      get attempt() {
        return call.attempt;
      },
      logger: this.client.logger,
      signal: input.signal ?? neverAborted,
      defer: (id, options) => {
        if (typeof id !== "string" || id === "") throw new TypeError(`defer: the id must be a non-empty string, received ${JSON.stringify(id)}`);
        const target = options?.function?.config;
        if (!target || !isDeferTarget(target)) throw new TypeError(`defer("${id}"): options.function must be a function made by createDefer`);
        const data = options.data ?? {};
        if (typeof data !== "object" || Array.isArray(data)) throw new TypeError(`defer("${id}"): options.data must be an object`);
        let meta: EventMeta | undefined;
        try {
          meta = validateEventMeta(options.meta, `defer("${id}").options`);
        } catch (error) {
          throw new TypeError((error as Error).message);
        }
        const stamped = inherit ? stampSessions({ meta }, inherit).meta : meta;
        return call.defers.add(id, target.id, data, stamped);
      },
    };
  }

  /** Where `step.sendEvent` delivers: the engine's transactional sender, or the client without its middleware. */
  private sendFromStep(input: ExecutionInput, events: unknown, options?: SendEventsOptions): Promise<{ ids: string[] }> {
    if (input.sendEvents) return input.sendEvents(events, options);
    if (options?.order === "preserve") {
      return Promise.reject(
        new NonRetriableError(
          'step.sendEvent: { order: "preserve" } needs the in-process engine; a served function sends through the event API, which keeps no order',
        ),
      );
    }
    return this.client.deliver ? this.client.deliver(events) : this.client.send(events);
  }

  /**
   * Runs `handler` once the run's events pass the trigger schemas; a bad event fails the
   * run (an `EventValidationError`, not retried) before the handler sees it.
   */
  private receive(ctx: { events: ReceivedEvent[] }, handler: () => unknown): unknown {
    if (this.receiveSchemas.size === 0) return handler();
    return validateIncomingEvents(ctx.events, this.receiveSchemas).then(handler);
  }

  /** Hook for subclasses that add context fields. */
  // biome-ignore lint/suspicious/noExplicitAny: any context
  protected decorate(ctx: Context<any, any>): Context<any, any> {
    return ctx;
  }
}

const neverAborted = new AbortController().signal;

/** A function `createDefer` made: triggered by `inngest/deferred.schedule` events naming it. */
function isDeferTarget(config: FunctionConfig): boolean {
  return config.triggers.some((t) => "event" in t && t.event === SystemEvent.DeferredSchedule);
}

class FailureFunction extends StepwiseFunction<FailureContext["event"]> {
  // biome-ignore lint/suspicious/noExplicitAny: any context
  protected override decorate(ctx: Context<any, any>) {
    return Object.assign(ctx, { error: deserializeError((ctx as FailureContext).event.data.error) });
  }
}

function failureFunction(
  client: ClientLink,
  parent: FunctionConfig,
  // biome-ignore lint/suspicious/noExplicitAny: any failure context
  onFailure: (ctx: FailureContext<any, any>) => unknown,
  middleware: FunctionOptions["middleware"],
): FunctionHandle {
  return new FailureFunction(
    client,
    { id: `${parent.slug}-failure`, name: `${parent.name} (failure)`, retries: parent.retries, ...(middleware ? { middleware } : {}) },
    [{ event: SystemEvent.FunctionFailed, if: `event.data.function_id == ${JSON.stringify(parent.id)}` }],
    // biome-ignore lint/suspicious/noExplicitAny: any context
    onFailure as (ctx: Context<any, any>) => unknown,
  );
}
