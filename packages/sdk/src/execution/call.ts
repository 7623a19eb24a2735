/**
 * @module call
 * One call of a function handler against memoized state: the heart of the SDK, shared
 * by the in-process driver and `serve()`. It never touches storage; it reports.
 *
 * How a call proceeds
 * 1. The handler runs from the top. A step whose hashed id is in `memo` resolves at once
 *    with its stored result (or throws its stored `StepError`).
 * 2. A step with no memo is "found". Finding waits one macrotask (setImmediate), so all
 *    steps started together (`Promise.all`) are found together.
 * 3. Then, with the found set:
 *    - a planned target (`targetStepId`) runs alone and is reported;
 *    - one lone `step.run` runs now; with `checkpoint` its outcome is persisted and the
 *      handler continues in this same call, otherwise it is reported;
 *    - anything else (several steps, a sleep, a wait, an invoke) is reported as ops for
 *      the engine to schedule.
 * 4. The handler returning or throwing ends the call.
 *
 * Middleware (`CallHooks`, optional) is called at fixed points: before the handler
 * starts; when memoization ends (every memoized step replayed, a new step found, or the
 * handler ended; at once when nothing is memoized); around and after each step's work;
 * on each outcome (step or function) before it is reported. A hook that throws fails
 * the call with its `MiddlewareError`.
 */
import {
  type ExecutionInput,
  type ExecutionResult,
  limits,
  type Memo,
  type Op,
  OpCode,
  type OpMetadata,
  StepIdRegistry,
  StepwiseError,
  serializeError,
} from "@stepwise/protocol";
import { NonRetriableError, RetryAfterError, StepError } from "../errors.ts";
import type { RunOutcome } from "../middleware/middleware.ts";
import type { CallHooks, CallStep } from "../middleware/runtime.ts";
import { collectingMetadata } from "../step/metadata.ts";
import { StepTimeoutError } from "../step/run.ts";
import { DeferBuffer } from "./defers.ts";
import { toStepJson } from "./json.ts";

/** What a step tool asks of the call. */
export interface StepRequest {
  id: string;
  displayName?: string;
  op: OpCode;
  name?: string;
  opts?: Record<string, unknown>;
  /** The work of a `step.run`-like step; its signal aborts on the step's timeout, run cancellation or a lost lease. */
  fn?: (signal: AbortSignal) => unknown;
}

interface FoundStep extends StepRequest {
  hash: string;
  finalId: string;
  index?: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class CallExecution {
  private readonly ids = new StepIdRegistry();
  private found: FoundStep[] = [];
  private settleScheduled = false;
  private finished = false;
  private stepsSeen = 0;
  private memo: ReadonlyMap<string, Memo>;
  private readonly memoUsed = new Set<string>();
  private resolveResult!: (result: ExecutionResult) => void;
  readonly result: Promise<ExecutionResult>;
  /** Attempt of the work in progress: the input's, until a step completes in this call. */
  attempt: number;
  /** `defer()` calls of this call, shipped with whatever it reports next. */
  readonly defers: DeferBuffer;

  constructor(
    private readonly input: ExecutionInput,
    private readonly hooks?: CallHooks,
  ) {
    this.attempt = input.attempt;
    this.defers = new DeferBuffer(input.defers);
    this.memo = input.memo;
    this.result = new Promise((resolve) => {
      this.resolveResult = resolve;
    });
  }

  /** Replaces the memoized state (middleware's `transformInput`); call before `run`. */
  useMemo(memo: ReadonlyMap<string, Memo>): void {
    this.memo = memo;
  }

  /** The result of failing this call with `error`, retried as a function error would be. */
  reject(error: unknown): ExecutionResult {
    return this.functionError(error);
  }

  /** Runs `handler` and reports what happened. */
  run(handler: () => unknown): Promise<ExecutionResult> {
    if (this.hooks) {
      void this.runWithHooks(this.hooks, handler);
      return this.result;
    }
    let started: Promise<unknown>;
    try {
      started = Promise.resolve(handler());
    } catch (error) {
      started = Promise.reject(error);
    }
    started.then(
      (data) => this.finish({ type: "function-resolved", data: data === undefined ? null : data }),
      (error) => this.finish(this.functionError(error)),
    );
    return this.result;
  }

  private async runWithHooks(hooks: CallHooks, handler: () => unknown) {
    try {
      await hooks.beforeMemoization();
      if (this.memo.size === 0) await hooks.memoizationEnd();
      await hooks.handlerStart();
    } catch (error) {
      this.finish(this.functionError(error));
      return;
    }
    let started: Promise<unknown>;
    try {
      started = Promise.resolve(handler());
    } catch (error) {
      started = Promise.reject(error);
    }
    started.then(
      (data) => this.end(hooks, { data }),
      (error) => this.end(hooks, { error }),
    );
  }

  /** The handler settled: the remaining hooks, then the function's result. */
  private async end(hooks: CallHooks, outcome: RunOutcome) {
    if (this.finished) return;
    try {
      await hooks.memoizationEnd();
      const raw = outcome.error !== undefined ? this.functionError(outcome.error) : undefined;
      await hooks.handlerEnded(outcome, raw?.type === "function-rejected" && !raw.retriable);
      await hooks.afterExecution();
      const out = await hooks.transformOutput(outcome);
      const result: ExecutionResult =
        out.error !== undefined ? this.functionError(out.error) : { type: "function-resolved", data: out.data === undefined ? null : out.data };
      await hooks.finished(out);
      this.finish(result);
    } catch (error) {
      this.finish(this.functionError(error));
    }
  }

  /** Memoization ended (middleware only); a hook failing ends the call. */
  private async endMemoization(hooks: CallHooks): Promise<boolean> {
    try {
      await hooks.memoizationEnd();
      return true;
    } catch (error) {
      this.finish(this.functionError(error));
      return false;
    }
  }

  private finish(result: ExecutionResult) {
    if (this.finished) return;
    this.finished = true;
    const deferred = this.defers.drain();
    if (deferred.length === 0) this.resolveResult(result);
    else if (result.type === "steps") this.resolveResult({ ...result, ops: [...result.ops, ...deferred] });
    else this.resolveResult({ ...result, deferred });
  }

  private functionError(error: unknown): ExecutionResult {
    const serialized = serializeError(error);
    if (RetryAfterError.is(error)) {
      return { type: "function-rejected", error: serialized, retriable: this.hasAttemptsLeft(), retryAt: error.retryAt(this.now()) };
    }
    const final = NonRetriableError.is(error) || StepError.is(error) || (StepwiseError.is(error) && error.code !== "internal" && error.code !== "closed");
    return { type: "function-rejected", error: serialized, retriable: !final && this.hasAttemptsLeft() };
  }

  /** The engine's time (a manual clock in tests), for dating retries. */
  private now(): number {
    return this.input.now ? this.input.now() : Date.now();
  }

  private hasAttemptsLeft() {
    return this.attempt < this.input.maxAttempts - 1;
  }

  /** Called by every step tool. */
  step(request: StepRequest): Promise<unknown> {
    if (this.finished) return new Promise(() => {});
    const resolved = this.ids.resolve(request.id);
    const found = this.stepResult(request, resolved);
    const hooks = this.hooks;
    if (!hooks || this.finished) return found;
    const step = { ...request, hash: resolved.hash, finalId: resolved.finalId, ...(resolved.index !== undefined ? { index: resolved.index } : {}) };
    return hooks.wrapStep(callStep(step), this.memo.has(resolved.hash), () => found);
  }

  /** The promise a step tool returns: its memoized outcome, or its outcome once the step is found and settled. */
  private stepResult(request: StepRequest, { hash, finalId, index }: { hash: string; finalId: string; index?: number }): Promise<unknown> {
    if (++this.stepsSeen > limits.stepsPerRun) {
      this.finish({
        type: "function-rejected",
        error: serializeError(
          new NonRetriableError(
            `run ${this.input.runId} reached step "${finalId}", past the limit of ${limits.stepsPerRun} steps per run; split the work with step.invoke or step.sendEvent`,
          ),
        ),
        retriable: false,
      });
      return new Promise(() => {});
    }
    const memo = this.memo.get(hash);
    if (memo) {
      const hooks = this.hooks;
      if (!hooks) return fromMemo(memo, finalId);
      this.memoUsed.add(hash);
      if (this.memoUsed.size < this.memo.size) return fromMemo(memo, finalId);
      return this.endMemoization(hooks).then((ok) => (ok ? fromMemo(memo, finalId) : new Promise(() => {})));
    }
    return new Promise((resolve, reject) => {
      this.found.push({ ...request, hash, finalId, ...(index !== undefined ? { index } : {}), resolve, reject });
      if (!this.settleScheduled) {
        this.settleScheduled = true;
        setImmediate(() => {
          this.settleScheduled = false;
          void this.settle();
        });
      }
    });
  }

  private async settle() {
    const found = this.found;
    this.found = [];
    if (this.finished || found.length === 0) return;
    try {
      await this.hooks?.memoizationEnd();
      await this.settleFound(found);
    } catch (error) {
      this.finish(this.functionError(error));
    }
  }

  private async settleFound(found: FoundStep[]) {
    const target = this.input.targetStepId;
    if (target !== undefined) {
      const step = found.find((s) => s.hash === target);
      if (!step) {
        this.finish({
          type: "function-rejected",
          error: serializeError(
            new Error(
              `could not find planned step ${target} in run ${this.input.runId}; found ${found.map((s) => `"${s.finalId}"`).join(", ")}. Did the function's code change?`,
            ),
          ),
          retriable: this.hasAttemptsLeft(),
        });
        return;
      }
      this.finish(await this.report(step));
      return;
    }
    // a race branch is never run at once: it is planned, so the engine can discover after it settles
    const lone = found.length === 1 && !this.input.disableImmediateExecution && !found[0]?.opts?.parallelMode ? found[0] : undefined;
    if (lone?.fn) {
      const op = await this.execute(lone);
      if (this.input.checkpoint && op.op !== OpCode.StepError) {
        try {
          for (const deferred of this.defers.drain()) await this.input.checkpoint(deferred);
          await this.input.checkpoint(op);
        } catch (error) {
          this.finish(
            this.functionError(StepwiseError.is(error) && error.code === "limit_exceeded" ? new NonRetriableError(error.message, { cause: error }) : error),
          );
          return;
        }
        this.attempt = 0;
        if (op.op === OpCode.StepRun) lone.resolve(op.data);
        else lone.reject(new StepError(lone.finalId, op.error ?? { name: "Error", message: "step failed" }));
        return;
      }
      this.finish(this.stepsResult([op], lone));
      return;
    }
    await this.hooks?.afterExecution();
    this.finish({ type: "steps", ops: found.map((step) => toOp(step, step.fn ? OpCode.StepPlanned : step.op)) });
  }

  private async report(step: FoundStep): Promise<ExecutionResult> {
    if (!step.fn) {
      await this.hooks?.afterExecution();
      return { type: "steps", ops: [toOp(step, step.op)] };
    }
    return this.stepsResult([await this.execute(step)], step);
  }

  private stepsResult(ops: Op[], step: FoundStep & { retryAt?: number }): ExecutionResult {
    return step.retryAt !== undefined ? { type: "steps", ops, retryAt: step.retryAt } : { type: "steps", ops };
  }

  /** Runs a step's work once (inside the step hooks) and describes the outcome as an op. */
  private async execute(step: FoundStep & { retryAt?: number }): Promise<Op> {
    const startedAt = Date.now();
    const timing = () => ({ a: startedAt * 1e6, b: (Date.now() - startedAt) * 1e6 });
    const attempt = this.attemptOf(step);
    // metadata written inside the work (`client.metadata`, `client.score`) goes on its op
    let written: OpMetadata[] = [];
    const work = () => {
      const collected = collectingMetadata(this.input.runId, attempt.work);
      written = collected.updates;
      return collected.result;
    };
    const meta = () => (written.length ? { metadata: written } : {});
    const hooks = this.hooks;
    const info = hooks && callStep(step);
    let outcome: RunOutcome;
    try {
      outcome = { data: hooks && info ? await hooks.runStep(info, work, (error) => this.isFinal(error, step)) : await work() };
    } catch (error) {
      outcome = { error };
    } finally {
      attempt.done();
    }
    if (hooks && info) {
      await hooks.afterExecution();
      outcome = await hooks.transformOutput(outcome, info);
    }
    if (hooks ? outcome.error === undefined : !("error" in outcome)) {
      try {
        const { value } = toStepJson(outcome.data, step.finalId);
        return { ...toOp(step, OpCode.StepRun), data: value, timing: timing(), ...meta() };
      } catch (error) {
        outcome = { error };
      }
    }
    const error = outcome.error;
    const serialized = serializeError(error);
    if (this.isFinal(error, step)) {
      // The official SDK repeats the error in `data`, without its stack.
      const data = { __serialized: true, name: serialized.name, message: serialized.message, stack: "" };
      return { ...toOp(step, OpCode.StepFailed), error: serialized, data, timing: timing(), ...meta() };
    }
    if (RetryAfterError.is(error)) step.retryAt = error.retryAt(this.now());
    return { ...toOp(step, OpCode.StepError), error: serialized, data: null, timing: timing(), ...meta() };
  }

  /** Whether a step error ends the step for good (no attempts left, by its own `retries` or the function's, or non-retriable). */
  private isFinal(error: unknown, step: FoundStep): boolean {
    if (NonRetriableError.is(error)) return true;
    const retries = step.opts?.retries;
    return typeof retries === "number" ? this.attempt >= retries : !this.hasAttemptsLeft();
  }

  /**
   * One attempt of a step's work: its `AbortSignal` follows the call's (run cancelled,
   * lease lost) and aborts on the step's `timeoutMs`, which also fails the attempt.
   */
  private attemptOf(step: FoundStep): { work: () => Promise<unknown>; done: () => void } {
    const controller = new AbortController();
    const parent = this.input.signal;
    const follow = () => controller.abort(parent?.reason);
    if (parent?.aborted) follow();
    else parent?.addEventListener("abort", follow, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeoutMs = typeof step.opts?.timeoutMs === "number" ? step.opts.timeoutMs : undefined;
    const fn = step.fn as (signal: AbortSignal) => unknown;
    const work = async () => {
      const running = Promise.resolve().then(() => fn(controller.signal));
      if (timeoutMs === undefined) return running;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new StepTimeoutError(step.finalId, timeoutMs);
          controller.abort(error);
          reject(error);
        }, timeoutMs);
      });
      running.catch(() => {}); // its late failure, once timed out, is nobody's
      return Promise.race([running, timedOut]);
    };
    return {
      work,
      done: () => {
        if (timer) clearTimeout(timer);
        parent?.removeEventListener("abort", follow);
      },
    };
  }
}

const stepTypes: Partial<Record<OpCode, CallStep["stepType"]>> = {
  [OpCode.Sleep]: "sleep",
  [OpCode.WaitForEvent]: "waitForEvent",
  [OpCode.WaitForSignal]: "waitForSignal",
  [OpCode.InvokeFunction]: "invoke",
};

/** The step as middleware sees it. */
function callStep(step: Omit<FoundStep, "resolve" | "reject">): CallStep {
  const { id: _id, ...op } = toOp(step as FoundStep, step.fn ? OpCode.StepRun : step.op);
  const planned = step.opts?.type === "step.realtime.publish" ? "realtime.publish" : step.name === "sendEvent" ? "sendEvent" : "run";
  const stepType = step.fn ? planned : (stepTypes[step.op] ?? step.op);
  return { hashedId: step.hash, id: step.id, displayName: step.displayName ?? step.id, stepType, op };
}

function fromMemo(memo: Memo, finalId: string): Promise<unknown> {
  // a race branch the engine abandoned: it never settles, so it cannot win a race on replay
  if ("error" in memo && memo.error.name === "StepAbandonedError") return new Promise(() => {});
  if ("error" in memo) return Promise.reject(new StepError(finalId, memo.error));
  return Promise.resolve(memo.data);
}

/** The op for a found step, in the official SDK's shape: `data: null` until a result is set; invokes carry no `name`. */
function toOp(step: FoundStep, op: OpCode): Op {
  return {
    id: step.hash,
    op,
    ...(op === OpCode.InvokeFunction ? {} : { name: step.name ?? step.id }),
    displayName: step.displayName ?? step.id,
    opts: step.opts ?? {},
    userland: step.index !== undefined ? { id: step.id, index: step.index } : { id: step.id },
    data: null,
  };
}
