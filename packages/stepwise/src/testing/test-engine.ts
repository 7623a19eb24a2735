/**
 * @module testing/test-engine
 * `createTestEngine`: the real engine (flow control, retries, waits, cron) on an
 * in-memory SQLite database, driven by a manual clock. Nothing waits on real time:
 *
 * - after every action the engine is *settled*: the kit waits until `engine.isIdle()`
 *   (nothing in flight, no due work left to claim) and no clock timer is due;
 * - `advance("3d")` moves the clock from one piece of due work to the next (a sleep's end,
 *   a retry, a wait's timeout, a debounce or throttle release, a cron tick), settling at
 *   each, so work that the way creates (a second sleep) is due at the right time too;
 * - `waitForRun` advances the same way until the run has ended.
 */
import {
  createManualClock,
  type Engine,
  type EngineOptions,
  type ListRunsFilter,
  type ManualClock,
  type RunDetails,
  type RunRecord,
  type RunStatus,
  terminalStatuses,
} from "@stepwise/engine";
import { type ClientHandle, type FunctionHandle, type Logger, parseDuration, StepwiseError, silentLogger } from "@stepwise/protocol";
import { createEngine } from "../engine.ts";

export interface TestEngineOptions {
  /** The functions to register (their `onFailure` handlers come along). */
  functions: readonly FunctionHandle[];
  /** A client whose `send` (and `step.sendEvent`) should reach this engine. */
  client?: ClientHandle;
  /** Where the manual clock starts. (Default: 2026-01-01T00:00:00Z.) */
  now?: number | Date;
  /** Multiplies retry delays; they pass on the manual clock, so the default real backoff costs nothing. (Default: 1.) */
  retryDelayScale?: number;
  /** (Default: silent.) */
  logger?: Logger;
  /** Real milliseconds a settle may take before it fails with `timeout` (a step awaiting real I/O counts). (Default: 10,000.) */
  settleTimeoutMs?: number;
  /**
   * `EngineOptions.retention` on the manual clock. (Default: false, everything is kept, so
   * a test that moves the clock by weeks still finds its earlier runs.)
   */
  retention?: EngineOptions["retention"];
}

export interface WaitForRunOptions {
  /** Clock time the run may take from now (duration string or ms) before `timeout`. (Default: 1 year.) */
  within?: string | number;
}

/** What `waitForRun` accepts: a run id, the id of the event that started it, or a function (its latest run). */
export type RunRef = string | { eventId: string } | { functionId: string | FunctionHandle };

export interface TestEngine {
  /** The engine itself, for anything else (`sendSignal`, `cancelRun`, `invoke`, `pause`, …); settle after with `settle()`. */
  readonly engine: Engine;
  readonly clock: ManualClock;
  /** The clock's time, epoch ms. */
  now(): number;
  /** Sends events, settles, and returns their ids and the ids of the runs they started (oldest first). */
  send(events: unknown): Promise<{ ids: string[]; runIds: string[] }>;
  /**
   * Moves the clock forward by a duration (`"3d"`, `"90m"`, `"2 hours"`, or ms): every
   * piece of work due on the way runs in order, at its own time, and the engine settles
   * after each.
   */
  advance(duration: string | number): Promise<void>;
  /** Waits (without moving the clock) until the engine has nothing left to do now. */
  settle(): Promise<void>;
  /** The run with its steps, after settling; rejects with `not_found` for an unknown id. */
  run(runId: string): Promise<RunDetails>;
  /**
   * Settles, then advances the clock through due work until the run has ended, and returns
   * it. Rejects with `timeout` when it has not ended and nothing more is due (it waits for
   * an event or a signal) or `within` has passed, naming its status.
   */
  waitForRun(ref: RunRef, options?: WaitForRunOptions): Promise<RunDetails>;
  /** The run's steps, in order. */
  steps(runId: string): Promise<RunDetails["steps"]>;
  /** Runs, newest first; `functionId` is a function, its id, or its composite id. */
  runs(filter?: Omit<ListRunsFilter, "functionId"> & { functionId?: string | FunctionHandle }): Promise<RunRecord[]>;
  close(): Promise<void>;
}

/** Most clock moves one `waitForRun` makes before giving up (a cron function makes work forever). */
const maxMoves = 10_000;

/**
 * Starts the real engine on `:memory:` with a manual clock, registers `functions`, and
 * returns the test handle. Close it after the test.
 *
 * @example
 * const t = await createTestEngine({ functions: [onboarding] });
 * const { runIds } = await t.send({ name: "app/user.signed-up", data: { userId: "u_1" } });
 * await t.advance("3d");
 * expect((await t.run(runIds[0])).status).toBe("Completed");
 */
export async function createTestEngine(options: TestEngineOptions): Promise<TestEngine> {
  if (!options || !Array.isArray(options.functions))
    throw new StepwiseError("invalid_argument", "createTestEngine: options.functions must be an array of functions");
  for (const [i, fn] of options.functions.entries()) {
    if (!fn || typeof fn.execute !== "function" || !fn.config) {
      throw new StepwiseError("invalid_argument", `createTestEngine: options.functions[${i}] is not a function made with createFunction`);
    }
  }
  const clock = createManualClock(options.now);
  const settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
  const engine = await createEngine({
    database: ":memory:",
    clock,
    logger: options.logger ?? silentLogger,
    retryDelayScale: options.retryDelayScale ?? 1,
    retention: options.retention ?? false,
  });
  engine.register({ functions: options.functions, ...(options.client ? { client: options.client } : {}) });
  await engine.start();

  const settle = async () => {
    const deadline = Date.now() + settleTimeoutMs;
    // idle on two turns in a row: work that a finishing call or a due timer wakes is seen
    for (let quiet = 0; quiet < 2; ) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const dueTimer = (clock.nextTimerAt() ?? Number.POSITIVE_INFINITY) <= clock.now();
      quiet = engine.isIdle() && !dueTimer ? quiet + 1 : 0;
      if (Date.now() > deadline) {
        throw new StepwiseError(
          "timeout",
          `test engine: still busy after ${settleTimeoutMs} ms of real time (a step awaiting slow real I/O, or work that re-arms itself at once)`,
        );
      }
    }
  };

  /** The next instant after now at which queued work or a cron tick is due. */
  const nextDueAt = async (): Promise<number | undefined> => {
    const now = clock.now();
    const candidates = [await engine.store.nextAvailableAt(), ...(await engine.store.listCronSchedules()).map((s) => s.nextAt)];
    let next = Number.POSITIVE_INFINITY;
    let stuck = false;
    for (const at of candidates) {
      if (at !== null && at > now && at < next) next = at;
      if (at !== null && at <= now) stuck = true;
    }
    if (next === Number.POSITIVE_INFINITY && stuck) {
      // work due now that cannot run yet (e.g. a paused function's): the clock's own timers go on
      const timer = clock.nextTimerAt();
      return timer !== undefined && timer > now ? timer : undefined;
    }
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  };

  /** Moves the clock from due work to due work up to `target`, settling at each; stops early once `until()` holds. */
  const moveTo = async (target: number, until: () => Promise<boolean> = async () => false, limit = Number.POSITIVE_INFINITY) => {
    await settle();
    for (let moves = 0; !(await until()); moves++) {
      const next = await nextDueAt();
      if (next === undefined || next > target) return false;
      if (moves >= limit) {
        throw new StepwiseError(
          "timeout",
          `test engine: still going after ${limit} clock moves (to ${new Date(clock.now()).toISOString()}); advance explicitly`,
        );
      }
      clock.set(next);
      await settle();
    }
    return true;
  };

  const functionIdOf = (ref: string | FunctionHandle): string => {
    if (typeof ref !== "string") return ref.config.id;
    const fns = engine.functions();
    if (fns.some((fn) => fn.config.id === ref)) return ref;
    const bySlug = fns.filter((fn) => fn.config.slug === ref);
    return bySlug.length === 1 ? (bySlug[0] as FunctionHandle).config.id : ref;
  };

  const getRun = async (runId: string, field = "run"): Promise<RunDetails> => {
    if (typeof runId !== "string" || runId === "") throw new StepwiseError("invalid_argument", `${field}: runId must be a non-empty string`);
    const run = await engine.getRun(runId);
    if (!run) throw new StepwiseError("not_found", `${field}: no run with id ${runId}`);
    return run;
  };

  const resolveRef = async (ref: RunRef): Promise<string> => {
    if (typeof ref === "string") return ref;
    if (ref && typeof ref === "object" && "eventId" in ref) {
      const runs = await engine.listRuns({ eventId: ref.eventId });
      if (runs.length !== 1) throw new StepwiseError("not_found", `waitForRun: event ${ref.eventId} started ${runs.length} runs; pass a run id`);
      return (runs[0] as RunRecord).id;
    }
    if (ref && typeof ref === "object" && "functionId" in ref) {
      const functionId = functionIdOf(ref.functionId);
      const [latest] = await engine.listRuns({ functionId, limit: 1 });
      if (!latest) throw new StepwiseError("not_found", `waitForRun: function "${functionId}" has no runs`);
      return latest.id;
    }
    throw new StepwiseError("invalid_argument", "waitForRun: ref must be a run id, { eventId } or { functionId }");
  };

  let closed = false;
  await settle();
  return {
    engine,
    clock,
    now: () => clock.now(),
    async send(events) {
      const { ids } = await engine.send(events);
      await settle();
      const runIds = new Set<string>();
      for (const eventId of ids) for (const run of await engine.listRuns({ eventId })) runIds.add(run.id);
      return { ids, runIds: [...runIds].sort() };
    },
    async advance(duration) {
      const target = clock.now() + parseDuration(duration, "advance(duration)");
      await moveTo(target);
      clock.set(target);
      await settle();
    },
    settle,
    async run(runId) {
      await settle();
      return getRun(runId);
    },
    async waitForRun(ref, waitOptions = {}) {
      const within = parseDuration(waitOptions.within ?? "1y", "waitForRun: within");
      const runId = await resolveRef(ref);
      await getRun(runId, "waitForRun");
      const ended = async () => terminalStatuses.has(((await engine.getRun(runId)) as RunDetails).status as RunStatus);
      if (await moveTo(clock.now() + within, ended, maxMoves)) return getRun(runId, "waitForRun");
      const run = await getRun(runId, "waitForRun");
      const running = run.steps.find((s) => s.status !== "Completed" && s.status !== "Failed");
      const why = run.waitingOn ? ` (${run.waitingOn.kind})` : running ? ` at step "${running.name}" (${running.status})` : "";
      throw new StepwiseError(
        "timeout",
        `waitForRun: run ${runId} is ${run.status}${why} and nothing more is due; send the event or signal it waits for, or advance the clock`,
      );
    },
    async steps(runId) {
      await settle();
      return (await getRun(runId, "steps")).steps;
    },
    async runs(filter = {}) {
      await settle();
      const { functionId, ...rest } = filter;
      return engine.listRuns({ ...rest, ...(functionId !== undefined ? { functionId: functionIdOf(functionId) } : {}) });
    },
    async close() {
      if (closed) return;
      closed = true;
      await engine.close();
    },
  };
}
