/**
 * @module faults
 * Named fault-injection points, for tests of crash windows. A point does nothing unless
 * the process was started with `STEPWISE_FAULTS` naming it:
 *
 *   STEPWISE_FAULTS="after-ingest-commit"          SIGKILL this process at the first hit
 *   STEPWISE_FAULTS="before-step-commit:throw"     throw a FaultInjectedError instead
 *   STEPWISE_FAULTS="after-claim#3"                fire at the third hit
 *
 * Several points may be listed, comma-separated. Points in the engine:
 * - `after-ingest-commit`: events and the runs they start are stored; nothing that
 *   follows from them (routing to waiting runs, cancellations) has happened yet.
 * - `after-claim`: queue items are leased; none has been processed.
 * - `before-step-commit`: a checkpointed step's code returned; its result is not stored.
 * - `after-step-commit`: a checkpointed step's result is stored; the call goes on.
 * - `before-transition-commit`: a call ended; its outcome is not stored.
 * - `before-ordered-release`: the first call of a run of an ordered fan-out began; the
 *   next run of the chain is still held.
 */

export class FaultInjectedError extends Error {
  constructor(point: string) {
    super(`fault injected at "${point}"`);
    this.name = "FaultInjectedError";
  }
}

interface Armed {
  action: "kill" | "throw";
  at: number;
  hits: number;
}

const armed = new Map<string, Armed>();
for (const spec of (process.env.STEPWISE_FAULTS ?? "").split(",")) {
  const match = /^\s*([a-z-]+)(?::(kill|throw))?(?:#(\d+))?\s*$/.exec(spec);
  if (match?.[1]) armed.set(match[1], { action: (match[2] as Armed["action"]) ?? "kill", at: Number(match[3] ?? 1), hits: 0 });
}

/** A named crash window. Free when no fault is armed. */
export function fault(point: string): void {
  if (armed.size === 0) return;
  const entry = armed.get(point);
  if (!entry || ++entry.hits !== entry.at) return;
  if (entry.action === "throw") throw new FaultInjectedError(point);
  process.kill(process.pid, "SIGKILL");
}
