/**
 * @module rerun
 * Reruns, pure parts: the steps a rerun from a step copies (memoized), the run ids a
 * bulk replay derives (the same for a batch written twice), and what a run waits on.
 */
import { createHash } from "node:crypto";
import { StepwiseError } from "@stepwise/protocol";
import { encodeTime } from "ulid";
import { type RunRecord, RunStatus, type StepRecord, StepStatus, type WaitingOn } from "../ports/store.ts";

/**
 * The steps of `steps` (the original run's, in completion order) listed before
 * `fromStep` (a step's name or hashed id) that completed, copied to run `runId`; the
 * new run finds them memoized and executes `fromStep` and everything after it again.
 */
export function stepsBefore(steps: readonly StepRecord[], fromStep: string, runId: string, originalId: string): StepRecord[] {
  const index = steps.findIndex((s) => s.name === fromStep || s.id === fromStep);
  if (index < 0) {
    const names = steps.map((s) => JSON.stringify(s.name)).join(", ");
    throw new StepwiseError("invalid_argument", `from_step: run ${originalId} has no step ${JSON.stringify(fromStep)} (its steps: ${names || "none"})`);
  }
  return steps
    .slice(0, index)
    .filter((s) => s.status === StepStatus.Completed)
    .map((s) => ({ ...s, runId }));
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A ULID whose time part is `at` and whose random part is a hash of `parts`: a replay
 * batch written again (after a crash, or by a second node) derives the same ids and the
 * store skips the runs it already has.
 */
export function derivedRunId(at: number, ...parts: string[]): string {
  const hash = createHash("sha256").update(parts.join("\u0000")).digest();
  let random = "";
  for (let i = 0; i < 16; i++) random += crockford[(hash[i] as number) % 32];
  return encodeTime(at, 10) + random;
}

/** What a run of the "stuck or slow" view waits on (beyond `WaitingOn`, the steps say). */
export type RunWait =
  | WaitingOn
  /** Queued and due: no worker has claimed its first call yet. */
  | { kind: "worker"; since: number }
  | { kind: "sleep"; step: string; until?: number }
  | { kind: "event"; step: string; event?: string; until?: number }
  | { kind: "invoke"; step: string; function?: string; until?: number }
  | { kind: "signal"; step: string; signal?: string; until?: number }
  /** A step threw; its retry is due at `until`. */
  | { kind: "retry"; step: string; attempt: number; until?: number }
  /** A call or a step is executing (or due for a worker). */
  | { kind: "step"; step?: string; since?: number };

/** What a running run waits on, read from its steps (the newest unsettled one), or its app outage. */
export function runningWait(run: RunRecord, steps: readonly StepRecord[]): RunWait {
  if (run.status === RunStatus.Running && run.waitingOn?.kind === "app") return run.waitingOn;
  const pending = [...steps]
    .reverse()
    .find((s) => [StepStatus.Sleeping, StepStatus.Waiting, StepStatus.Errored, StepStatus.Planned].includes(s.status as "Planned"));
  if (!pending) return { kind: "step", ...(run.startedAt !== undefined ? { since: run.startedAt } : {}) };
  const input = (pending.input ?? {}) as Record<string, unknown>;
  const until = pending.wakeAt !== undefined ? { until: pending.wakeAt } : {};
  if (pending.status === StepStatus.Sleeping) return { kind: "sleep", step: pending.name, ...until };
  if (pending.status === StepStatus.Errored) return { kind: "retry", step: pending.name, attempt: pending.attempts, ...until };
  if (pending.status === StepStatus.Waiting) {
    if (pending.op === "WaitForEvent")
      return { kind: "event", step: pending.name, ...(typeof input.event === "string" ? { event: input.event } : {}), ...until };
    if (pending.op === "WaitForSignal")
      return { kind: "signal", step: pending.name, ...(typeof input.signal === "string" ? { signal: input.signal } : {}), ...until };
    const fn = typeof input.function_id === "string" ? input.function_id : undefined;
    return { kind: "invoke", step: pending.name, ...(fn ? { function: fn } : {}), ...until };
  }
  return { kind: "step", step: pending.name, ...(pending.startedAt !== undefined ? { since: pending.startedAt } : {}) };
}
