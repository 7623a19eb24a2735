/**
 * @module function
 * A function made by `createFunction`: its validated config and `execute`, which runs
 * one call of the handler. Drivers (in-process or HTTP) call `execute`; users never do.
 */

import type { Logger } from "@stepwise/protocol";
import {
  type CheckpointingOptions,
  deserializeError,
  type ExecutionInput,
  type ExecutionResult,
  type FunctionConfig,
  type FunctionHandle,
  type SerializedError,
  type StoredEvent,
  SystemEvent,
  type Trigger,
  validateFunctionConfig,
} from "@stepwise/protocol";
import { CallExecution } from "./execution/call.ts";
import type { MiddlewareStack } from "./middleware/index.ts";
import type { RegisteredMiddleware } from "./middleware/runtime.ts";
import { createStepTools, type StepTools } from "./step/index.ts";

/** What a handler receives. */
export interface Context<Data = Record<string, unknown>> {
  /** The (first) event that triggered this run. */
  event: StoredEvent<Data>;
  /** Every triggering event (more than one for batches). */
  events: StoredEvent<Data>[];
  step: StepTools;
  runId: string;
  /** Zero-based attempt of the step (or call) being retried. */
  readonly attempt: number;
  logger: Logger;
  /** Aborted when the engine gives this call up (its lease was lost); pass it to `fetch` and the like. */
  signal: AbortSignal;
}

/** What an `onFailure` handler receives: `event` is the `inngest/function.failed` event. */
export interface FailureContext extends Context<{ function_id: string; run_id: string; error: SerializedError; event: StoredEvent }> {
  /** The run's final error, rebuilt. */
  error: Error;
}

export type Handler<Data = Record<string, unknown>> = (ctx: Context<Data>) => unknown;

/** Options of `createFunction`. Flow-control keys are validated now and enforced by the engine. */
export interface FunctionOptions<TMiddleware extends MiddlewareStack = MiddlewareStack>
  extends Partial<Omit<FunctionConfig, "id" | "slug" | "appId" | "triggers" | "name" | "retries">> {
  /** Stable id; never change it once runs exist. */
  id: string;
  name?: string;
  /** Retries per step and per call, 0–20. (Default: 4, i.e. 5 attempts.) */
  retries?: number;
  /** Runs once when a run of this function fails for good. */
  onFailure?: (ctx: FailureContext) => unknown;
  /** The v4 form: triggers inside the options. */
  triggers?: Trigger | Trigger[];
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
}

export class StepwiseFunction<Data = Record<string, unknown>> implements FunctionHandle {
  readonly config: FunctionConfig;
  readonly companions: FunctionHandle[];

  constructor(
    private readonly client: ClientLink,
    options: FunctionOptions,
    triggers: Trigger[],
    private readonly handler: (ctx: Context<Data>) => unknown,
  ) {
    if (!options || typeof options.id !== "string") throw new TypeError(`createFunction: options.id is required, received ${JSON.stringify(options?.id)}`);
    const { onFailure, triggers: _t, id, name, retries, ...rest } = options;
    this.config = validateFunctionConfig({
      ...rest,
      id: `${client.id}-${id}`,
      slug: id,
      appId: client.id,
      name: name ?? id,
      triggers,
      retries: retries ?? 4,
    });
    this.companions = onFailure ? [failureFunction(client, this.config, onFailure)] : [];
  }

  execute(input: ExecutionInput): Promise<ExecutionResult> {
    const call = new CallExecution(input);
    const step = createStepTools(
      (request) => call.step(request),
      (events) => (input.sendEvents ? input.sendEvents(events) : this.client.send(events)),
    );
    const ctx = {
      event: input.event as StoredEvent<Data>,
      events: input.events as StoredEvent<Data>[],
      step,
      runId: input.runId,
      get attempt() {
        return call.attempt;
      },
      logger: this.client.logger,
      signal: input.signal ?? neverAborted,
    };
    return call.run(() => this.handler(this.decorate(ctx)));
  }

  /** Hook for subclasses that add context fields. */
  protected decorate(ctx: Context<Data>): Context<Data> {
    return ctx;
  }
}

const neverAborted = new AbortController().signal;

class FailureFunction extends StepwiseFunction<FailureContext["event"]["data"]> {
  protected override decorate(ctx: Context<FailureContext["event"]["data"]>) {
    return Object.assign(ctx, { error: deserializeError(ctx.event.data.error) });
  }
}

function failureFunction(client: ClientLink, parent: FunctionConfig, onFailure: (ctx: FailureContext) => unknown): FunctionHandle {
  return new FailureFunction(
    client,
    { id: `${parent.slug}-failure`, name: `${parent.name} (failure)`, retries: parent.retries },
    [{ event: SystemEvent.FunctionFailed, if: `event.data.function_id == ${JSON.stringify(parent.id)}` }],
    onFailure as (ctx: Context<FailureContext["event"]["data"]>) => unknown,
  );
}
