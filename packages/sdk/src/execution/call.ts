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
 */
import {
  type ExecutionInput,
  type ExecutionResult,
  limits,
  type Memo,
  type Op,
  OpCode,
  StepIdRegistry,
  StepwiseError,
  serializeError,
} from "@stepwise/protocol";
import { NonRetriableError, RetryAfterError, StepError } from "../errors.ts";
import { toStepJson } from "./json.ts";

/** What a step tool asks of the call. */
export interface StepRequest {
  id: string;
  displayName?: string;
  op: OpCode;
  name?: string;
  opts?: Record<string, unknown>;
  /** The work of a `step.run`-like step. */
  fn?: () => unknown;
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
  private resolveResult!: (result: ExecutionResult) => void;
  readonly result: Promise<ExecutionResult>;
  /** Attempt of the work in progress: the input's, until a step completes in this call. */
  attempt: number;

  constructor(private readonly input: ExecutionInput) {
    this.attempt = input.attempt;
    this.result = new Promise((resolve) => {
      this.resolveResult = resolve;
    });
  }

  /** Runs `handler` and reports what happened. */
  run(handler: () => unknown): Promise<ExecutionResult> {
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

  private finish(result: ExecutionResult) {
    if (this.finished) return;
    this.finished = true;
    this.resolveResult(result);
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
    const { hash, finalId, index } = this.ids.resolve(request.id);
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
    const memo = this.input.memo.get(hash);
    if (memo) return fromMemo(memo, finalId);
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
    const lone = found.length === 1 && !this.input.disableImmediateExecution ? found[0] : undefined;
    if (lone?.fn) {
      const op = await this.execute(lone);
      if (this.input.checkpoint && op.op !== OpCode.StepError) {
        try {
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
    this.finish({ type: "steps", ops: found.map((step) => toOp(step, step.fn ? OpCode.StepPlanned : step.op)) });
  }

  private async report(step: FoundStep): Promise<ExecutionResult> {
    if (!step.fn) return { type: "steps", ops: [toOp(step, step.op)] };
    return this.stepsResult([await this.execute(step)], step);
  }

  private stepsResult(ops: Op[], step: FoundStep & { retryAt?: number }): ExecutionResult {
    return step.retryAt !== undefined ? { type: "steps", ops, retryAt: step.retryAt } : { type: "steps", ops };
  }

  /** Runs a step's work once and describes the outcome as an op. */
  private async execute(step: FoundStep & { retryAt?: number }): Promise<Op> {
    const startedAt = Date.now();
    const timing = () => ({ a: startedAt * 1e6, b: (Date.now() - startedAt) * 1e6 });
    try {
      const output = await (step.fn as () => unknown)();
      const { value } = toStepJson(output, step.finalId);
      return { ...toOp(step, OpCode.StepRun), data: value, timing: timing() };
    } catch (error) {
      const serialized = serializeError(error);
      if (NonRetriableError.is(error) || !this.hasAttemptsLeft()) {
        // The official SDK repeats the error in `data`, without its stack.
        const data = { __serialized: true, name: serialized.name, message: serialized.message, stack: "" };
        return { ...toOp(step, OpCode.StepFailed), error: serialized, data, timing: timing() };
      }
      if (RetryAfterError.is(error)) step.retryAt = error.retryAt(this.now());
      return { ...toOp(step, OpCode.StepError), error: serialized, data: null, timing: timing() };
    }
  }
}

function fromMemo(memo: Memo, finalId: string): Promise<unknown> {
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
