/**
 * @module replay-jobs
 * Bulk replays in the background: a job record in the store says which runs (a function,
 * statuses, a creation-time range) and how far it got. Runs are taken newest first in
 * batches; each new run's id is derived from the job and the original run (its time part is
 * the job's creation), so a batch written again, after a crash or by another node that
 * resumed the same job, makes the same ids, and the one ingest per batch skips ids already
 * stored. A crash or restart anywhere resumes the job from its record and replays every
 * matching run exactly once.
 */
import type { Logger } from "@stepwise/protocol";
import { newId } from "../ids.ts";
import type { Clock } from "../ports/clock.ts";
import type { ReplayJob, RunRecord, RunStatus, Store } from "../ports/store.ts";

export interface ReplayDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Runs per batch. */
  batchSize: number;
  /** Writes the reruns of `runs` (one ingest, skipping ids already stored), their ids derived from the job and each run. */
  replayBatch(job: ReplayJob, runs: readonly RunRecord[]): Promise<void>;
  /** Whether the engine still runs jobs (false once it is closing). */
  active(): boolean;
}

export class ReplayJobs {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: ReplayDeps) {}

  /** Counts the matching runs, stores the job and starts it. */
  async create(filter: { functionId: string; statuses: RunStatus[]; from?: number; to?: number }): Promise<ReplayJob> {
    const now = this.deps.clock.now();
    // only runs created before this millisecond: the replay's own runs (created at a batch's
    // instant, never earlier) are never part of it, whenever a resumed job pages on
    const to = Math.min(filter.to ?? now, now);
    let total = 0;
    for (const status of filter.statuses) {
      let before: string | undefined;
      for (;;) {
        const page = await this.deps.store.listRuns({
          functionId: filter.functionId,
          status,
          to,
          limit: 1000,
          ...(filter.from !== undefined ? { from: filter.from } : {}),
          ...(before ? { before } : {}),
        });
        total += page.length;
        if (page.length < 1000) break;
        before = page.at(-1)?.id;
      }
    }
    const job: ReplayJob = {
      id: newId(),
      functionId: filter.functionId,
      statuses: filter.statuses,
      ...(filter.from !== undefined ? { from: filter.from } : {}),
      to,
      state: total === 0 ? "completed" : "running",
      total,
      done: 0,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.store.saveReplayJob(job);
    if (job.state === "running") this.start(job.id);
    return job;
  }

  /** Starts (or, after a restart or a failure, resumes) a job unless it runs here already. */
  start(jobId: string): void {
    if (this.running.has(jobId)) return;
    const done = this.run(jobId)
      .catch((error) => this.deps.logger.error(`stepwise: replay ${jobId} stopped: ${(error as Error).message}`))
      .finally(() => this.running.delete(jobId));
    this.running.set(jobId, done);
  }

  /** Resumes every job left running (by a process that stopped). */
  async resumeAll(): Promise<void> {
    for (const job of await this.deps.store.listReplayJobs({ limit: 100, state: "running" })) this.start(job.id);
  }

  /** Resolves once the batches under way here are written (jobs then stop; they resume on the next start). */
  async stop(): Promise<void> {
    await Promise.all(this.running.values());
  }

  /** Resolves when the job has stopped running here (tests, and callers that wait). */
  settled(jobId: string): Promise<void> {
    return this.running.get(jobId) ?? Promise.resolve();
  }

  private async run(jobId: string): Promise<void> {
    const { store, clock, batchSize } = this.deps;
    let job = await store.getReplayJob(jobId);
    while (job && job.state === "running" && this.deps.active()) {
      const page = await store.listRuns({
        functionId: job.functionId,
        limit: batchSize,
        ...(job.from !== undefined ? { from: job.from } : {}),
        ...(job.to !== undefined ? { to: job.to } : {}),
        ...(job.cursor ? { before: job.cursor } : {}),
      });
      const statuses = new Set<string>(job.statuses);
      const matching = page.filter((run) => statuses.has(run.status));
      if (matching.length > 0) {
        // a failed batch is tried again (a store hiccup, or another node writing the same
        // batch at once: the retry skips the runs it wrote); then the job fails, resumable
        let failure: unknown;
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            await this.deps.replayBatch(job, matching);
            failure = undefined;
            break;
          } catch (error) {
            failure = error;
            await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
          }
        }
        if (failure !== undefined) {
          job = { ...job, state: "failed", error: (failure as Error).message, updatedAt: clock.now() };
          await store.saveReplayJob(job);
          return;
        }
      }
      const last = page.at(-1);
      job = {
        ...job,
        done: Math.min(job.total, job.done + matching.length),
        ...(last ? { cursor: last.id } : {}),
        state: page.length < batchSize ? "completed" : "running",
        updatedAt: clock.now(),
      };
      if (job.state === "completed") job.done = job.total;
      await store.saveReplayJob(job);
    }
  }
}
