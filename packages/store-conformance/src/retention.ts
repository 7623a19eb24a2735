import { PauseKind, type PauseRecord, RunStatus, StepStatus, type Store, type SweepParams } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, start, useStorePair } from "./fixtures.ts";

const day = 86_400_000;
const now = 30 * day;

function pause(runId: string, stepId: string): PauseRecord {
  return { id: `${runId}:${stepId}`, runId, kind: PauseKind.Wait, stepId, eventName: "test/reply", createdAt: 1_000, expiresAt: now + day };
}

/**
 * Stores a run of `functionId` with one event, two steps and a pause; with `endedAt`, the
 * run is then finished at that instant, its start item released (the pause is left, as a
 * run ended by a released item would leave it).
 */
async function seed(store: Store, options: { functionId?: string; endedAt?: number; status?: RunStatus; receivedAt?: number } = {}) {
  const e = event("test/event", {}, options.receivedAt ?? 1_000);
  const r = run([e], options.functionId ?? "app-fn");
  await store.ingestEvents({ events: [e], runs: [r], items: [start(r.id)], pauses: [pause(r.id, "wait")] });
  for (const id of ["s1", "s2"]) await store.saveStep({ runId: r.id, id, name: id, op: "StepRun", status: StepStatus.Completed, attempts: 1, output: id });
  if (options.endedAt !== undefined) {
    const { items } = await store.claimQueueItems({ now: 1_000_000_000_000, limit: 100, leaseUntil: 1_000_000_000_001 });
    const item = items.find((i) => i.runId === r.id);
    if (!item) throw new Error("seed: the run's start item was not claimed");
    await store.commitTransition({
      runId: r.id,
      lease: { itemId: item.id, token: item.token },
      itemId: item.id,
      run: { status: options.status ?? RunStatus.Completed, output: "done", endedAt: options.endedAt },
    });
  }
  return { event: e, run: r };
}

const sweepAll = (store: Store, params: Partial<SweepParams> = {}) => store.sweep({ now, limit: 500, ...params });

export function retentionSuite(factory: StoreFactory) {
  describe("retention (sweep)", () => {
    const { store, peer } = useStorePair(factory);

    it("deletes a finished run that ended before the cutoff with its steps and pauses, and keeps a newer one", async () => {
      const old = await seed(store(), { endedAt: now - 10 * day });
      const recent = await seed(store(), { endedAt: now - day });
      expect(await store().listSteps(old.run.id)).toHaveLength(2);
      expect(await store().findPauses({ eventName: "test/reply" })).toHaveLength(2);
      const result = await sweepAll(store(), { runsEndedBefore: now - 7 * day });
      expect(result).toMatchObject({ runs: 1, steps: 2, pauses: 1 });
      expect(await store().getRun(old.run.id)).toBeUndefined();
      expect(await store().listSteps(old.run.id)).toEqual([]);
      expect((await store().findPauses({ eventName: "test/reply" })).map((p) => p.runId)).toEqual([recent.run.id]);
      expect(await store().getRun(recent.run.id)).toMatchObject({ status: "Completed" });
      expect(await store().listSteps(recent.run.id)).toHaveLength(2);
      // a second sweep finds nothing more
      expect(await sweepAll(store(), { runsEndedBefore: now - 7 * day })).toMatchObject({ runs: 0, steps: 0 });
    });

    it("deletes a deleted run's metadata (POST /v1/runs/:id/metadata) with it, and keeps a kept run's", async () => {
      const old = await seed(store(), { endedAt: now - 10 * day });
      const recent = await seed(store(), { endedAt: now - day });
      for (const r of [old.run, recent.run]) {
        await store().addRunMetadata({
          runId: r.id,
          target: { run_id: r.id },
          updates: [{ kind: "userland.default", op: "merge", values: { a: 1 } }],
          createdAt: 2_000,
        });
      }
      await sweepAll(store(), { runsEndedBefore: now - 7 * day });
      expect(await store().listRunMetadata(old.run.id)).toEqual([]);
      expect(await store().listRunMetadata(recent.run.id)).toHaveLength(1);
    });

    it("deletes every finished status, and never a queued or running run, however old", async () => {
      const ended = [];
      for (const status of [RunStatus.Completed, RunStatus.Failed, RunStatus.Cancelled]) ended.push(await seed(store(), { endedAt: 2_000, status }));
      const queued = await seed(store());
      const skipped = run([event()]);
      await store().ingestEvents({
        events: [],
        runs: [{ ...skipped, status: RunStatus.Skipped, error: { name: "RateLimited", message: "x" }, endedAt: 2_000 }],
        items: [],
      });
      const running = await seed(store());
      await store().claimQueueItems({ now: 1_000, limit: 100, leaseUntil: 5_000 });
      expect((await store().getRun(running.run.id))?.status).toBe("Running");
      const result = await sweepAll(store(), { runsEndedBefore: now });
      expect(result.runs).toBe(4);
      for (const r of ended) expect(await store().getRun(r.run.id)).toBeUndefined();
      expect(await store().getRun(skipped.id)).toBeUndefined();
      expect((await store().getRun(queued.run.id))?.status).toBe("Running");
      expect(await store().getRun(running.run.id)).toBeDefined();
      expect(await store().listSteps(running.run.id)).toHaveLength(2);
    });

    it("keeps a finished run while it still has queue items", async () => {
      const e = event();
      const r = run([e]);
      await store().ingestEvents({ events: [e], runs: [r], items: [start(r.id)] });
      await store().commitTransition({ runId: r.id, run: { status: RunStatus.Completed, endedAt: 2_000 } });
      expect((await sweepAll(store(), { runsEndedBefore: now })).runs).toBe(0);
      expect(await store().getRun(r.id)).toBeDefined();
    });

    it("applies per-function cutoffs instead of the global one", async () => {
      const short = await seed(store(), { functionId: "app-short", endedAt: now - 2 * day });
      const long = await seed(store(), { functionId: "app-long", endedAt: now - 10 * day });
      const forever = await seed(store(), { functionId: "app-forever", endedAt: 2_000 });
      const other = await seed(store(), { functionId: "app-other", endedAt: now - 10 * day });
      const result = await sweepAll(store(), {
        runsEndedBefore: now - 7 * day,
        functions: [
          { functionId: "app-short", runsEndedBefore: now - day },
          { functionId: "app-long", runsEndedBefore: now - 30 * day },
          { functionId: "app-forever", runsEndedBefore: null },
        ],
      });
      expect(result.runs).toBe(2);
      expect(await store().getRun(short.run.id)).toBeUndefined();
      expect(await store().getRun(other.run.id)).toBeUndefined();
      expect(await store().getRun(long.run.id)).toBeDefined();
      expect(await store().getRun(forever.run.id)).toBeDefined();
      // without a global cutoff only the per-function ones apply
      const later = await seed(store(), { functionId: "app-other", endedAt: 2_000 });
      expect((await sweepAll(store(), { functions: [{ functionId: "app-long", runsEndedBefore: now }] })).runs).toBe(1);
      expect(await store().getRun(long.run.id)).toBeUndefined();
      expect(await store().getRun(later.run.id)).toBeDefined();
    });

    it("deletes old events no stored run refers to, and keeps those a run or a pending route still needs", async () => {
      const orphan = event("test/orphan", {}, 1_000);
      const fresh = event("test/orphan", {}, now - 1_000);
      await store().ingestEvents({ events: [orphan, fresh], runs: [], items: [] });
      // a queued batch run: its first event and the members added later
      const [b1, b2, b3] = [event("test/batch", {}, 1_000), event("test/batch", {}, 1_001), event("test/batch", {}, 1_002)];
      const batch = run([b1!, b2!]);
      await store().ingestEvents({ events: [b1!, b2!], runs: [batch], items: [] });
      await store().ingestEvents({ events: [b3!], runs: [], items: [], runUpdates: [{ runId: batch.id, eventIds: [b1!, b2!, b3!].map((e) => e.internalId) }] });
      // a finished run not yet expired keeps its event
      const finished = await seed(store(), { endedAt: now - day, receivedAt: 1_000 });
      // an event waiting for its route item
      const routed = event("test/routed", {}, 1_000);
      await store().ingestEvents({
        events: [routed],
        runs: [],
        items: [{ runId: "", kind: "route", attempt: 0, availableAt: 1_000, payload: { eventId: routed.internalId } }],
      });

      const result = await sweepAll(store(), { eventsReceivedBefore: now - 7 * day });
      expect(result.events).toBe(1);
      expect(await store().getEvent(orphan.internalId)).toBeUndefined();
      for (const kept of [fresh, b1!, b2!, b3!, finished.event, routed]) expect(await store().getEvent(kept.internalId), kept.name).toBeDefined();
      expect((await store().loadRunState(batch.id))?.events).toHaveLength(3);

      // once its run is gone, the event goes too
      await sweepAll(store(), { runsEndedBefore: now });
      const again = await sweepAll(store(), { eventsReceivedBefore: now - 7 * day });
      expect(again.events).toBe(1);
      expect(await store().getEvent(finished.event.internalId)).toBeUndefined();
    });

    it("keeps the members of a finished batch run while the run is kept", async () => {
      const [b1, b2] = [event("test/batch", {}, 1_000), event("test/batch", {}, 1_001)];
      const batch = run([b1!]);
      await store().ingestEvents({ events: [b1!], runs: [batch], items: [start(batch.id)] });
      await store().ingestEvents({ events: [b2!], runs: [], items: [], runUpdates: [{ runId: batch.id, eventIds: [b1!.internalId, b2!.internalId] }] });
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 5_000 });
      await store().commitTransition({ runId: batch.id, run: { status: RunStatus.Completed, endedAt: now - day }, clearQueue: true, itemId: items[0]!.id });
      expect((await sweepAll(store(), { eventsReceivedBefore: now, runsEndedBefore: now - 7 * day })).events).toBe(0);
      expect((await store().loadRunState(batch.id))?.events).toHaveLength(2);
      const result = await sweepAll(store(), { eventsReceivedBefore: now, runsEndedBefore: now });
      expect(result).toMatchObject({ runs: 1, events: 2 });
    });

    it("deletes expired flow state and idempotency keys, counted apart, and keeps live keys", async () => {
      const flowState = [
        { key: "idempotency|app-fn|a", value: { runId: "r1" }, expiresAt: now - 1 },
        { key: "idempotency|app-fn|b", value: { runId: "r2" }, expiresAt: now + day },
        { key: "throttle|app-fn|x", value: { at: 1 }, expiresAt: now - 1 },
        { key: "ratelimit|app-fn|y", value: { at: 1 }, expiresAt: now },
      ];
      await store().ingestEvents({ events: [], runs: [], items: [], flowState });
      const result = await sweepAll(store());
      expect(result).toMatchObject({ runs: 0, events: 0, flowRows: 2, idempotencyKeys: 1 });
      const left = await store().getFlowState(
        flowState.map((f) => f.key),
        0,
      );
      expect([...left.keys()]).toEqual(["idempotency|app-fn|b"]);
    });

    it("deletes at most `limit` rows of each kind per call", async () => {
      for (let i = 0; i < 7; i++) await seed(store(), { endedAt: 2_000 + i });
      const orphans = Array.from({ length: 5 }, (_, i) => event("test/orphan", {}, 1_000 + i));
      await store().ingestEvents({
        events: orphans,
        runs: [],
        items: [],
        flowState: Array.from({ length: 4 }, (_, i) => ({ key: `throttle|k${i}`, value: 1, expiresAt: 5 })),
      });
      const params = { limit: 3, runsEndedBefore: now, eventsReceivedBefore: 1_000_000 };
      const first = await sweepAll(store(), params);
      expect(first).toMatchObject({ runs: 3, steps: 6, events: 3, flowRows: 3 });
      // the oldest runs went first
      expect((await store().listRuns({ limit: 10 })).map((r) => r.endedAt).sort()).toEqual([2_003, 2_004, 2_005, 2_006]);
      const second = await sweepAll(store(), params);
      expect(second).toMatchObject({ runs: 3, flowRows: 1 });
      const third = await sweepAll(store(), params);
      expect(third.runs).toBe(1);
      // the runs' own events follow their runs
      const fourth = await sweepAll(store(), params);
      expect(third.events + fourth.events).toBe(6);
      expect(await store().listRuns({ limit: 10 })).toEqual([]);
      expect(await store().listEvents({ limit: 100 })).toEqual([]);
    });

    it("old events still referenced do not hold back the deletable ones behind them, and go once released", async () => {
      // the two oldest events belong to runs; four newer ones to nothing
      const protectedRuns = [];
      for (let i = 0; i < 2; i++) protectedRuns.push(await seed(store(), { endedAt: now - day, receivedAt: 1_000 + i }));
      const orphans = Array.from({ length: 4 }, (_, i) => event("test/orphan", {}, 2_000 + i));
      await store().ingestEvents({ events: orphans, runs: [], items: [] });
      const params = { limit: 2, eventsReceivedBefore: 1_000_000 };
      const pass = async () => {
        let total = 0;
        for (let batch = 0; batch < 10; batch++) {
          const { events } = await sweepAll(store(), params);
          total += events;
          if (events < params.limit) return total;
        }
        throw new Error("the pass did not end");
      };
      expect(await pass()).toBe(4);
      for (const r of protectedRuns) expect(await store().getEvent(r.event.internalId)).toBeDefined();
      // their runs expire: the next pass starts from the oldest again
      expect((await sweepAll(store(), { runsEndedBefore: now })).runs).toBe(2);
      expect(await pass()).toBe(2);
      expect(await store().listEvents({ limit: 10 })).toEqual([]);
    });

    it.skipIf(!factory.createPeer)(
      "two instances sweeping at once delete each run once (skipped for a store that cannot open a second instance, e.g. :memory:)",
      async () => {
        for (let i = 0; i < 12; i++) await seed(store(), { endedAt: 2_000 + i });
        const params = { now, limit: 4, runsEndedBefore: now };
        const totals = { runs: 0, steps: 0 };
        const drain = async (s: Store) => {
          for (;;) {
            const r = await s.sweep(params);
            totals.runs += r.runs;
            totals.steps += r.steps;
            if (r.runs === 0) return;
          }
        };
        await Promise.all([drain(store()), drain(peer()!)]);
        expect(totals).toEqual({ runs: 12, steps: 24 });
        expect(await store().listRuns({ limit: 100 })).toEqual([]);
      },
    );
  });
}
