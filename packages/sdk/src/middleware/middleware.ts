/**
 * @module middleware/middleware
 * Inngest v3's middleware form: `new InngestMiddleware({ name, init })`. `init` runs once
 * per client (and once per function for per-function middleware) and returns the hook
 * factories; `onFunctionRun` is called at the start of every call of a function and
 * returns that call's hooks, `onSendEvent` at every send.
 */
import type { FunctionHandle, Logger, Op, SerializedError, StoredEvent } from "@stepwise/protocol";
import type { SendPayload } from "../client.ts";

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** A hook's result: a value, or nothing (returning early is allowed). */
// biome-ignore lint/suspicious/noConfusingVoidType: a hook may return nothing
export type HookResult<T> = MaybePromise<T | undefined | void>;

/** What middleware sees of the client: its id, logger and `send`. */
export interface MiddlewareClient {
  readonly id: string;
  readonly logger: Logger;
  send(events: unknown): Promise<{ ids: string[] }>;
}

/** A memoized step as `transformInput` sees it: its hashed id and its stored data or error. */
export interface MemoizedStep {
  /** Hashed step id. */
  id: string;
  data?: unknown;
  error?: SerializedError;
}

/** The base fields of the handler context a call starts with. */
export interface RunContextInfo {
  event: StoredEvent;
  events: StoredEvent[];
  runId: string;
  attempt: number;
}

/** The argument of `onFunctionRun`. */
export interface FunctionRunArgs {
  readonly ctx: Readonly<RunContextInfo>;
  readonly fn: FunctionHandle;
  readonly steps: readonly Readonly<MemoizedStep>[];
  /** The arguments of the HTTP request in served mode; empty in-process. */
  readonly reqArgs: readonly unknown[];
}

/** The argument of `transformInput`: the handler context so far (earlier middleware's fields included). */
export interface TransformInputArgs {
  readonly ctx: Readonly<Record<string, unknown> & RunContextInfo>;
  readonly fn: FunctionHandle;
  readonly steps: readonly Readonly<MemoizedStep>[];
  readonly reqArgs: readonly unknown[];
}

/**
 * What `transformInput` may return: `ctx` fields are merged into the handler context;
 * `steps[i]` (same order as the argument's `steps`) is merged into memoized step `i`.
 */
export interface TransformInputResult {
  ctx?: Record<string, unknown>;
  steps?: (Partial<Pick<MemoizedStep, "data" | "error">> | undefined)[];
}

/** A step's or the function's outcome: `data`, or `error` (the thrown value). */
export interface RunOutcome {
  data?: unknown;
  error?: unknown;
}

/** The argument of `transformOutput`; `step` is set for a step's outcome, absent for the function's. */
export interface TransformOutputArgs {
  readonly result: Readonly<RunOutcome>;
  readonly step?: Readonly<Omit<Op, "id">>;
}

/** The hooks of one call, returned by `onFunctionRun`. Every hook is optional. */
export interface FunctionRunHooks {
  /** First: may add context fields (`{ ctx }`) and change memoized step data (`{ steps }`). */
  transformInput?(args: TransformInputArgs): HookResult<TransformInputResult>;
  /** Before the handler replays memoized steps. */
  beforeMemoization?(): MaybePromise<void>;
  /** Once every memoized step has been replayed (or a new step is found, or the handler ends). */
  afterMemoization?(): MaybePromise<void>;
  /** Right after `afterMemoization`, before new code runs. */
  beforeExecution?(): MaybePromise<void>;
  /** After the first new step's work ran, the call reported its steps, or the handler ended. */
  afterExecution?(): MaybePromise<void>;
  /** Each step outcome and the function's; may replace `data` or `error`. */
  transformOutput?(args: TransformOutputArgs): HookResult<{ result?: Partial<RunOutcome> }>;
  /** The function returned or threw (after `transformOutput`); not called when a call only ran steps. */
  finished?(args: { readonly result: Readonly<RunOutcome> }): MaybePromise<void>;
  /** Last, whatever the call's outcome: a place to flush. */
  beforeResponse?(): MaybePromise<void>;
}

/** The hooks of one send (`client.send` or `step.sendEvent`). */
export interface SendEventHooks {
  /** May replace the payloads before they are validated and stored. */
  transformInput?(args: { readonly payloads: readonly SendPayload[] }): HookResult<{ payloads?: SendPayload[] }>;
  /** May replace fields of the result (`{ ids }`). */
  transformOutput?(args: {
    readonly result: Readonly<{ ids: string[] }>;
    readonly payloads: readonly SendPayload[];
  }): HookResult<{ result?: Partial<{ ids: string[] }> & Record<string, unknown> }>;
}

/** What `init` returns. */
export interface MiddlewareRegisterReturn {
  onFunctionRun?(args: FunctionRunArgs): HookResult<FunctionRunHooks>;
  onSendEvent?(): HookResult<SendEventHooks>;
}

/** The options of `new InngestMiddleware`. */
export interface MiddlewareOptions {
  /** Names the middleware in errors. */
  name: string;
  /** Called once per client (with `fn` for per-function middleware); may be async. */
  init(args: { client: MiddlewareClient; fn?: FunctionHandle }): MaybePromise<MiddlewareRegisterReturn>;
}

/**
 * Middleware in Inngest v3's form. Give it to the client (`new Stepwise({ id, middleware: [m] })`)
 * or to one function (`createFunction({ id, middleware: [m] }, ...)`).
 *
 * @example
 * const db = new InngestMiddleware({
 *   name: "db",
 *   init: () => ({ onFunctionRun: () => ({ transformInput: () => ({ ctx: { db: openDb() } }) }) }),
 * });
 */
export class InngestMiddleware<TOpts extends MiddlewareOptions = MiddlewareOptions> {
  readonly name: TOpts["name"];
  readonly init: TOpts["init"];

  constructor(options: TOpts) {
    if (!options || typeof options.name !== "string" || options.name === "") {
      throw new TypeError(`new InngestMiddleware({ name }): "name" must be a non-empty string, received ${JSON.stringify(options?.name)}`);
    }
    if (typeof options.init !== "function") {
      throw new TypeError(`new InngestMiddleware({ init }): "init" of middleware "${options.name}" must be a function`);
    }
    this.name = options.name;
    this.init = options.init;
  }

  get [Symbol.toStringTag](): string {
    return "Inngest.Middleware";
  }
}

export { InngestMiddleware as StepwiseMiddleware };
