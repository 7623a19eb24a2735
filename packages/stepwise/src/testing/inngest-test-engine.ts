/**
 * @module testing/inngest-test-engine
 * `InngestTestEngine`: the API of the official `@inngest/test`, for Stepwise functions.
 * It runs a function's handler call after call against memoized state, in memory, with
 * no engine and no database, the way the engine would drive it:
 *
 * - a `step.run` runs and its result is memoized for the next call; parallel steps run one
 *   after the other, each in its own call;
 * - a mocked step (`steps: [{ id, handler }]`) never runs its real work: its handler runs
 *   once, lazily, when the function first reaches the step, and its return value (or
 *   throw) is the step's result (or `StepError`);
 * - a `step.sleep` that is not mocked is passed as if it had elapsed; a `step.waitForEvent`
 *   or `step.waitForSignal` that is not mocked times out (`null`); a `step.invoke` that is
 *   not mocked is an error naming the step (there is no other function to run);
 * - `step.sendEvent` does not send: it returns fresh ids (assert on `ctx.step.sendEvent`);
 * - retries are not modelled: the first step error ends the execution with that error,
 *   as in `@inngest/test`.
 *
 * Every execution's context is passed through `transformCtx` (default `mockCtx`: step
 * tools as mock functions); the returned `ctx` is the last call's.
 */
import { createInProcessRealtimeBus, newId, type RealtimeBus } from "@stepwise/engine";
import {
  type EventPayload,
  type ExecutionInput,
  type ExecutionResult,
  hashStepId,
  type Memo,
  type Op,
  OpCode,
  StepwiseError,
  type StoredEvent,
  serializeError,
} from "@stepwise/protocol";
import { type Context, StepError, type StepwiseFunction } from "@stepwise/sdk";
import { createMockEvent, type MockContext, mockCtx } from "./mock-ctx.ts";

/** A step whose outcome the test decides. */
export interface MockedStep {
  /** The step's id as written in the function (`step.run("this-id", …)`), or its hash with `idIsHashed`. */
  id: string;
  idIsHashed?: boolean;
  /** The step's result; a throw makes the step fail with that error. Called at most once per execution. */
  handler: () => unknown;
}

export interface InngestTestEngineOptions {
  /** The function under test. */
  // biome-ignore lint/suspicious/noExplicitAny: any event data type
  function: StepwiseFunction<any>;
  /** The triggering events (more than one for a batch). (Default: one `inngest/function.invoked` event.) */
  events?: EventPayload[];
  /** Steps whose outcome is mocked. */
  steps?: MockedStep[];
  /** Changes the context each call receives. (Default: `mockCtx`, step tools as mock functions.) */
  // biome-ignore lint/suspicious/noExplicitAny: the context of any function
  transformCtx?: (ctx: Context<any>) => Context<any> | MockContext<any>;
  /** Accepted for compatibility with `@inngest/test` (serve-handler arguments for middleware); unused. */
  reqArgs?: unknown[];
  /**
   * Where `step.realtime.publish` and `client.realtime.publish` publish during the test
   * (subscribe to it to assert on messages). (Default: a bus of the execution's own, so
   * nothing leaves the process.)
   */
  realtime?: RealtimeBus;
}

/** Options of one `execute`/`executeStep`, over the engine's own. */
export type InlineOptions = Omit<InngestTestEngineOptions, "function">;

/** Outcome of an execution: `result` when the function (or step) returned, `error` (serialized) when it failed. */
export interface ExecutionOutput {
  result?: unknown;
  error?: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: the context of any function
  ctx: MockContext<any>;
  /** The outcome of each step the last call reached, by step id: a promise resolving to its result or rejecting with its `StepError`. */
  state: Record<string, Promise<unknown>>;
}

/** Outcome of `executeStep`: also the step's op (`{ id, op, name, opts, data?, error? }`, as the protocol reports it). */
export interface StepExecutionOutput extends ExecutionOutput {
  step: Op;
}

/** Calls of the handler one execution may make before it is taken to loop. */
const maxCalls = 10_000;

/** One execution in progress: memo, mocks and what the last call saw. */
class Execution {
  readonly memo = new Map<string, Memo | { lazy: Promise<unknown> }>();
  readonly ids = new Map<string, string>();
  private readonly mocks = new Map<string, MockedStep>();
  private readonly events: StoredEvent[];
  private readonly runId = newId();
  private readonly realtime: RealtimeBus;
  disableImmediateExecution = false;
  // biome-ignore lint/suspicious/noExplicitAny: the context of any function
  ctx: MockContext<any> | undefined;
  reached = new Set<string>();

  constructor(private readonly options: InngestTestEngineOptions) {
    if (options.events !== undefined && (!Array.isArray(options.events) || options.events.length === 0)) {
      throw new StepwiseError("invalid_argument", "InngestTestEngine: options.events must be a non-empty array of events");
    }
    if (options.steps !== undefined && !Array.isArray(options.steps))
      throw new StepwiseError("invalid_argument", "InngestTestEngine: options.steps must be an array");
    for (const [i, mock] of (options.steps ?? []).entries()) {
      if (!mock || typeof mock.id !== "string" || mock.id === "") {
        throw new StepwiseError("invalid_argument", `InngestTestEngine: steps[${i}].id must be a non-empty string`);
      }
      if (typeof mock.handler !== "function") throw new StepwiseError("invalid_argument", `InngestTestEngine: steps[${i}].handler must be a function`);
      const hash = mock.idIsHashed ? mock.id : hashStepId(mock.id);
      this.mocks.set(hash, mock);
      if (!mock.idIsHashed) this.ids.set(hash, mock.id);
    }
    this.events = (options.events ?? [createMockEvent()]).map((event) => ({ ...createMockEvent(), ...event }) as StoredEvent);
    this.realtime = options.realtime ?? createInProcessRealtimeBus();
  }

  /** One call of the handler; `targetStepId` runs that planned step alone. */
  async call(targetStepId?: string): Promise<ExecutionResult> {
    const reached = new Set<string>();
    const memo = this.memoView(reached);
    const transform = this.options.transformCtx ?? mockCtx;
    const input: ExecutionInput = {
      runId: this.runId,
      event: this.events[0] as StoredEvent,
      events: this.events,
      memo,
      attempt: 0,
      maxAttempts: this.options.function.config.retries + 1,
      ...(targetStepId !== undefined ? { targetStepId } : {}),
      ...(this.disableImmediateExecution ? { disableImmediateExecution: true } : {}),
      sendEvents: async (events: unknown) => ({ ids: (Array.isArray(events) ? events : [events]).map(() => newId()) }),
      realtime: this.realtime,
    };
    const result = await withContext(this.options.function, (ctx) => {
      // biome-ignore lint/suspicious/noExplicitAny: the context of any function
      const transformed = transform(ctx) as MockContext<any>;
      this.ctx = transformed;
      return transformed as unknown as Context;
    }).execute(input);
    this.reached = reached;
    return result;
  }

  /** The memo a call reads: known outcomes, and mocked steps run on first read. */
  private memoView(reached: Set<string>): ReadonlyMap<string, Memo> {
    const resolveLazy = (hash: string): Memo | undefined => {
      const known = this.memo.get(hash);
      if (known) return "lazy" in known ? { data: known.lazy } : known;
      const mock = this.mocks.get(hash);
      if (!mock) return undefined;
      const stepId = this.ids.get(hash) ?? hash;
      const lazy = (async () => mock.handler())().catch((error) => {
        throw new StepError(stepId, serializeError(error));
      });
      lazy.catch(() => {});
      this.memo.set(hash, { lazy });
      return { data: lazy };
    };
    const view = new Map<string, Memo>();
    view.get = (hash: string) => {
      const memo = resolveLazy(hash);
      if (memo) reached.add(hash);
      return memo;
    };
    return view;
  }

  /** Records a step op's outcome; returns its error when the step failed. */
  record(op: Op): { error: unknown } | undefined {
    this.ids.set(op.id, stepIdOf(op));
    if (op.op === OpCode.StepRun) this.memo.set(op.id, { data: op.data ?? null });
    else if (op.op === OpCode.StepError || op.op === OpCode.StepFailed) {
      this.memo.set(op.id, { error: op.error ?? serializeError(new Error("step failed")) });
      return { error: op.error };
    }
    return undefined;
  }

  /** The outcome of each step the last call reached, keyed by step id (hashes too, non-enumerable). */
  state(): Record<string, Promise<unknown>> {
    const state: Record<string, Promise<unknown>> = {};
    for (const hash of this.reached) {
      const memo = this.memo.get(hash);
      if (!memo) continue;
      const stepId = this.ids.get(hash) ?? hash;
      const outcome = "lazy" in memo ? memo.lazy : "error" in memo ? Promise.reject(new StepError(stepId, memo.error)) : Promise.resolve(memo.data);
      outcome.catch(() => {});
      state[stepId] = outcome;
      if (stepId !== hash) Object.defineProperty(state, hash, { value: outcome, enumerable: false });
    }
    return state;
  }

  output(extra: { result?: unknown; error?: unknown }): ExecutionOutput {
    return { ...extra, ctx: this.ctx as MockContext, state: this.state() };
  }
}

/**
 * A test engine for one function, compatible with `@inngest/test`'s: run the function to
 * its end (`execute`) or to one step (`executeStep`), with mocked events and steps, and
 * assert on `result`, `error`, `ctx` (its step tools are mock functions) and `state`.
 *
 * @example
 * const t = new InngestTestEngine({ function: helloWorld });
 * const { result } = await t.execute();
 * expect(result).toEqual("Hello World!");
 */
export class InngestTestEngine {
  constructor(protected readonly options: InngestTestEngineOptions) {
    if (!options || typeof options.function?.execute !== "function") {
      throw new StepwiseError("invalid_argument", "InngestTestEngine: options.function must be a function made with createFunction");
    }
  }

  /** A new test engine with these options over this one's (e.g. more mocks). */
  clone(inlineOptions: InlineOptions = {}): InngestTestEngine {
    return new InngestTestEngine({ ...this.options, ...inlineOptions });
  }

  /**
   * Runs the function until it returns (`result`) or fails (`error`, serialized: `{ name,
   * message, stack }`). A failing step ends the execution with that step's error.
   */
  async execute(inlineOptions: InlineOptions = {}): Promise<ExecutionOutput> {
    const execution = new Execution({ ...this.options, ...inlineOptions });
    return this.drive(execution, () => false) as Promise<ExecutionOutput>;
  }

  /**
   * Runs the function until the step `stepId` is reached. A runnable step (`step.run`,
   * `step.sendEvent`) is run and its `result` or `error` returned; for any other step
   * (sleep, wait, invoke) the returned `step` op shows what it asked for. Rejects with
   * `not_found` when the function ends without reaching the step.
   */
  async executeStep(stepId: string, inlineOptions: InlineOptions = {}): Promise<StepExecutionOutput> {
    if (typeof stepId !== "string" || stepId === "") throw new StepwiseError("invalid_argument", "executeStep: stepId must be a non-empty string");
    const execution = new Execution({ ...this.options, ...inlineOptions });
    execution.disableImmediateExecution = true;
    const hash = hashStepId(stepId);
    const output = await this.drive(execution, (op) => op.id === hash);
    if (!("step" in output)) {
      const how = output.error !== undefined ? `failed (${(output.error as { message?: string }).message})` : "returned";
      throw new StepwiseError("not_found", `executeStep("${stepId}"): the function ${how} without reaching step "${stepId}"`);
    }
    return output;
  }

  /** Calls the handler again and again, as the engine would, until it ends or `stop(op)` holds for a found step. */
  private async drive(execution: Execution, stop: (op: Op) => boolean): Promise<ExecutionOutput | StepExecutionOutput> {
    for (let calls = 0; calls < maxCalls; calls++) {
      const result = await execution.call();
      if (result.type === "function-resolved") return execution.output({ result: result.data });
      if (result.type === "function-rejected") return execution.output({ error: result.error });
      const ran = result.ops.length === 1 && result.ops[0]?.op !== OpCode.StepPlanned ? result.ops[0] : undefined;
      if (ran && (ran.op === OpCode.StepRun || ran.op === OpCode.StepError || ran.op === OpCode.StepFailed)) {
        const failed = execution.record(ran);
        if (stop(ran)) return { ...execution.output(failed ?? { result: ran.data }), step: ran };
        if (failed) return execution.output(failed);
        continue;
      }
      if (result.ops.length > 1) execution.disableImmediateExecution = true;
      for (const op of result.ops) {
        execution.ids.set(op.id, stepIdOf(op));
        if (op.op === OpCode.StepPlanned) {
          // a step of a parallel group (or any step, once parallel): run it alone
          const target = await execution.call(op.id);
          if (target.type === "function-rejected") return execution.output({ error: target.error });
          const outcome = target.type === "steps" ? target.ops.find((o) => o.id === op.id) : undefined;
          if (!outcome) continue;
          const failed = execution.record(outcome);
          if (stop(op)) return { ...execution.output(failed ?? { result: outcome.data }), step: outcome };
          if (failed) return execution.output(failed);
          continue;
        }
        if (stop(op)) return { ...execution.output({}), step: op };
        if (op.op === OpCode.InvokeFunction) {
          throw new StepwiseError(
            "invalid_argument",
            `step.invoke("${stepIdOf(op)}") needs a mock: there is no other function to run here; add steps: [{ id: "${stepIdOf(op)}", handler: () => result }]`,
          );
        }
        // a sleep passes; a wait for an event or a signal times out
        execution.memo.set(op.id, { data: null });
      }
    }
    throw new StepwiseError("limit_exceeded", `InngestTestEngine: the function was called ${maxCalls} times without ending`);
  }
}

/** The user-facing id of a step op (`"send:1"` for the second use of `"send"`). */
function stepIdOf(op: Op): string {
  const id = op.userland?.id ?? op.displayName ?? op.id;
  return op.userland?.index !== undefined ? `${id}:${op.userland.index}` : id;
}

/**
 * The function with its context passed through `transform` on each call. It uses the
 * function's own `decorate` hook (the one `onFailure` handlers use to add `error`), on a
 * per-execution object that delegates everything else to the function.
 */
// biome-ignore lint/suspicious/noExplicitAny: any event data type
function withContext(fn: StepwiseFunction<any>, transform: (ctx: Context) => Context): StepwiseFunction<any> {
  const hooked = Object.create(fn) as { decorate(ctx: Context): Context };
  const decorate = (fn as unknown as { decorate(ctx: Context): Context }).decorate;
  hooked.decorate = (ctx) => transform(decorate.call(fn, ctx));
  // biome-ignore lint/suspicious/noExplicitAny: any event data type
  return hooked as unknown as StepwiseFunction<any>;
}
