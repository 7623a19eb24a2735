/**
 * What the dashboard reads and writes beyond running functions: per-bucket run counts and
 * durations, the oldest queued and longest running runs, reruns with their link and their
 * copied steps, replay batches written twice, and replay job records.
 */
import { newId, type ReplayJob, RunStatus, StepStatus } from "@stepwise/engine";
import { encodeTime } from "ulid";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, seedRun, start, useStore } from "./fixtures.ts";

/** A run id created at `at` (ULIDs sort by creation time). */
const idAt = (at: number) => `${encodeTime(at, 10)}${newId().slice(10)}`;

export function dashboardSuite(factory: StoreFactory) {
  describe("dashboard queries", () => {
    const store = useStore(factory);

    it("runStats counts runs per status per bucket of creation time, only of the function and range asked, and returns the newest durations", async () => {
      const minute = 60_000;
      const base = 1_700_000_000_000 - (1_700_000_000_000 % minute);
      const make = async (functionId: string, at: number, status: RunStatus, ms?: number) => {
        const e = event("x", {}, at);
        const r = { ...run([e], functionId, at), id: idAt(at), createdAt: at };
        // a queued run's item is due far ahead: the claims below leave it queued
        await store().ingestEvents({ events: [e], runs: [r], items: [start(r.id, status === RunStatus.Queued ? at + 1e12 : at)] });
        if (status !== RunStatus.Queued) {
          const claimed = await store().claimQueueItems({ now: at + 10_000_000, limit: 100, leaseUntil: at + 20_000_000 });
          const item = claimed.items.find((i) => i.runId === r.id);
          if (!item) throw new Error("not claimed");
          if (status !== RunStatus.Running) {
            await store().commitTransition({
              runId: r.id,
              itemId: item.id,
              lease: { itemId: item.id, token: item.token },
              run: { status, endedAt: (await store().getRun(r.id))!.startedAt! + (ms ?? 0) },
              clearQueue: true,
            });
          }
        }
        return r;
      };
      await make("f", base + 1_000, RunStatus.Completed, 100);
      await make("f", base + 2_000, RunStatus.Failed, 300);
      await make("f", base + minute + 5, RunStatus.Completed, 200);
      await make("f", base + 2 * minute + 5, RunStatus.Queued);
      await make("other", base + 1_500, RunStatus.Completed, 50);
      await make("f", base + 10 * minute, RunStatus.Completed, 999); // outside [from, to)
      const stats = await store().runStats({ functionId: "f", from: base, to: base + 10 * minute, bucketMs: minute, durationLimit: 100 });
      expect(stats.buckets).toEqual([
        { at: base, counts: { Completed: 1, Failed: 1 } },
        { at: base + minute, counts: { Completed: 1 } },
        { at: base + 2 * minute, counts: { Queued: 1 } },
      ]);
      expect(stats.durations).toEqual([
        { createdAt: base + minute + 5, ms: 200 },
        { createdAt: base + 2_000, ms: 300 },
        { createdAt: base + 1_000, ms: 100 },
      ]);
      const capped = await store().runStats({ functionId: "f", from: base, to: base + 10 * minute, bucketMs: minute, durationLimit: 2 });
      expect(capped.durations.map((d) => d.ms)).toEqual([200, 300]);
    });

    it("listOldestRuns: queued runs oldest first, running runs longest-running first (by start, not creation)", async () => {
      const a = await seedRun(store(), { availableAt: 3_000 });
      const b = await seedRun(store(), { availableAt: 3_000 });
      const c = await seedRun(store(), { availableAt: 1_000 });
      expect((await store().listOldestRuns({ status: "Queued", limit: 2 })).map((r) => r.id)).toEqual([a.run.id, b.run.id]);
      // c is due first and starts at 2_000; a and b start at 5_000
      expect((await store().claimQueueItems({ now: 2_000, limit: 10, leaseUntil: 60_000 })).items.map((i) => i.runId)).toEqual([c.run.id]);
      expect((await store().claimQueueItems({ now: 5_000, limit: 10, leaseUntil: 60_000 })).items).toHaveLength(2);
      const running = await store().listOldestRuns({ status: "Running", limit: 10 });
      expect(running.map((r) => [r.id, r.startedAt])).toEqual([
        [c.run.id, 2_000],
        [a.run.id, 5_000],
        [b.run.id, 5_000],
      ]);
      expect(await store().listOldestRuns({ status: "Queued", limit: 10 })).toEqual([]);
    });

    it("stores a rerun's link and its copied steps with the run, and skips runs already stored when asked", async () => {
      const { run: original } = await seedRun(store());
      const e = event("again");
      const rerun = { ...run([e]), rerunOf: original.id, rerunFromStep: "charge" };
      const copied = { runId: rerun.id, id: "h-fetch", name: "fetch", op: "StepRun", status: StepStatus.Completed, attempts: 1, output: { rows: 3 } };
      await store().ingestEvents({ events: [e], runs: [rerun], items: [start(rerun.id)], steps: [copied], skipExistingRuns: true });
      expect(await store().getRun(rerun.id)).toMatchObject({ rerunOf: original.id, rerunFromStep: "charge", status: "Queued" });
      expect((await store().listRuns({ limit: 10 })).find((r) => r.id === rerun.id)?.rerunOf).toBe(original.id);
      expect((await store().loadRunState(rerun.id))?.steps).toEqual([copied]);
      // the same batch again: nothing is written twice (no second queue item, the steps untouched)
      const changed = { ...copied, output: { rows: 99 } };
      await store().ingestEvents({ events: [], runs: [rerun], items: [start(rerun.id)], steps: [changed], skipExistingRuns: true });
      expect((await store().listSteps(rerun.id))[0]?.output).toEqual({ rows: 3 });
      const { items } = await store().claimQueueItems({ now: 10_000, limit: 100, leaseUntil: 20_000 });
      expect(items.filter((i) => i.runId === rerun.id)).toHaveLength(1);
      expect((await store().getRun(original.id))?.rerunOf).toBeUndefined();
    });

    it("saves, replaces and lists replay jobs, newest first, by state", async () => {
      const job = (id: string, state: ReplayJob["state"]): ReplayJob => ({
        id,
        functionId: "f",
        statuses: [RunStatus.Failed],
        from: 1,
        to: 2,
        state,
        total: 10,
        done: 0,
        createdAt: 5,
        updatedAt: 5,
      });
      const first = job(idAt(1_000), "running");
      const second = job(idAt(2_000), "running");
      await store().saveReplayJob(first);
      await store().saveReplayJob(second);
      expect(await store().getReplayJob(first.id)).toEqual(first);
      expect(await store().getReplayJob("nope")).toBeUndefined();
      const progressed = { ...first, state: "completed" as const, done: 10, cursor: "01ABC", updatedAt: 9 };
      await store().saveReplayJob(progressed);
      expect(await store().getReplayJob(first.id)).toEqual(progressed);
      expect((await store().listReplayJobs({ limit: 10 })).map((j) => j.id)).toEqual([second.id, first.id]);
      expect((await store().listReplayJobs({ limit: 10, state: "running" })).map((j) => j.id)).toEqual([second.id]);
      expect((await store().listReplayJobs({ limit: 1 })).map((j) => j.id)).toEqual([second.id]);
    });
  });
}
