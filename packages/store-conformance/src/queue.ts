import { QueueItemKind, type RunView } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { discovery, event, run, type StoreFactory, seedRun, start, useStore } from "./fixtures.ts";

export function queueSuite(factory: StoreFactory) {
  describe("queue", () => {
    const store = useStore(factory);

    it("claims due items oldest first, up to the limit, and marks their runs Running", async () => {
      const a = await seedRun(store(), { availableAt: 30 });
      const b = await seedRun(store(), { availableAt: 10 });
      await seedRun(store(), { availableAt: 5_000 });
      const { items, nextAvailableAt } = await store().claimQueueItems({ now: 1_000, limit: 1, leaseUntil: 2_000 });
      expect(items.map((i) => i.runId)).toEqual([b.run.id]);
      expect(nextAvailableAt).toBe(30);
      expect((await store().getRun(b.run.id))?.status).toBe("Running");
      expect((await store().getRun(b.run.id))?.startedAt).toBe(1_000);
      expect((await store().getRun(a.run.id))?.status).toBe("Queued");
    });

    it("a started batch run releases its pending key, unless the key already gathers for another run", async () => {
      const key = "batch|app-fn|*";
      const [e1, e2, e3] = [event(), event(), event()];
      // run a gathered until it filled; the key now gathers the next batch, for run b
      const a = { ...run([e1!, e2!]), pendingKey: key };
      const b = { ...run([e3!]), pendingKey: key };
      await store().ingestEvents({
        events: [e1!, e2!, e3!],
        runs: [a, b],
        items: [start(a.id, 10), start(b.id, 60_000)],
        flowState: [{ key, value: { runId: b.id, eventIds: [e3!.internalId], startAt: 60_000 }, expiresAt: 60_000 }],
      });
      expect((await store().claimQueueItems({ now: 1_000, limit: 5, leaseUntil: 100_000 })).items.map((i) => i.runId)).toEqual([a.id]);
      expect((await store().getFlowState([key], 1_000)).get(key)).toMatchObject({ runId: b.id });
      // once b starts, its key goes
      expect((await store().claimQueueItems({ now: 60_000, limit: 5, leaseUntil: 61_000 })).items.map((i) => i.runId)).toEqual([b.id]);
      expect((await store().getFlowState([key], 60_000)).has(key)).toBe(false);
    });

    it("claims due work of runs under way (lane 0) before the starts of new runs (lane 1)", async () => {
      const fresh = await seedRun(store(), { availableAt: 10 });
      const { run } = await seedRun(store(), { availableAt: 5_000 });
      await store().commitTransition({ runId: run.id, enqueue: [{ runId: run.id, kind: QueueItemKind.Sleep, stepId: "s", attempt: 0, availableAt: 900 }] });
      await store().commitTransition({
        runId: fresh.run.id,
        enqueue: [{ runId: fresh.run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt: 20, lane: 1 }],
      });
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 2, leaseUntil: 2_000 });
      expect(items.map((i) => [i.runId, i.kind])).toEqual([
        [run.id, QueueItemKind.Sleep],
        [fresh.run.id, QueueItemKind.Discovery],
      ]);
      const rest = (await store().claimQueueItems({ now: 1_000, limit: 5, leaseUntil: 2_000 })).items;
      expect(rest).toEqual([expect.objectContaining({ runId: fresh.run.id, availableAt: 20, lane: 1 })]);
    });

    it("hides leased items until the lease ends, then hands them out again", async () => {
      const { run } = await seedRun(store());
      const first = await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 5_000 });
      expect(first.items).toHaveLength(1);
      expect((await store().claimQueueItems({ now: 4_999, limit: 10, leaseUntil: 9_000 })).items).toHaveLength(0);
      const retaken = await store().claimQueueItems({ now: 5_000, limit: 10, leaseUntil: 9_000 });
      expect(retaken.items.map((i) => i.runId)).toEqual([run.id]);
    });

    it("reports queue stats: due and leased items, the oldest due, queued runs held by flow control by kind", async () => {
      expect(await store().queueStats(1_000)).toEqual({ due: 0, leased: 0, oldestDueAt: null, waiting: {} });
      await seedRun(store(), { availableAt: 300 });
      await seedRun(store(), { availableAt: 200 });
      await seedRun(store(), { availableAt: 100 });
      await seedRun(store(), { availableAt: 5_000 });
      const held = (kind: "throttle" | "debounce") => {
        const e = event();
        const r = { ...run([e]), waitingOn: { kind, until: 9_000 } };
        return { events: [e], runs: [r], items: [start(r.id, 9_000)] };
      };
      await store().ingestEvents(held("throttle"));
      await store().ingestEvents(held("throttle"));
      await store().ingestEvents(held("debounce"));
      expect(await store().queueStats(1_000)).toEqual({ due: 3, leased: 0, oldestDueAt: 100, waiting: { throttle: 2, debounce: 1 } });
      await store().claimQueueItems({ now: 1_000, limit: 1, leaseUntil: 2_000 });
      // the claimed item is leased (its availableAt moved to the lease's end), the next oldest is due
      expect(await store().queueStats(1_000)).toEqual({ due: 2, leased: 1, oldestDueAt: 200, waiting: { throttle: 2, debounce: 1 } });
    });

    it("extends leases", async () => {
      await seedRun(store());
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 2_000 });
      const lost = await store().extendLeases({ leases: items.map((i) => ({ itemId: i.id, token: i.token })), leaseUntil: 10_000 });
      expect(lost).toEqual([]);
      expect((await store().claimQueueItems({ now: 9_999, limit: 10, leaseUntil: 20_000 })).items).toHaveLength(0);
      expect(await store().nextAvailableAt()).toBe(10_000);
    });

    it("deletes the held item, or reschedules it with its new attempt", async () => {
      const a = await seedRun(store());
      const b = await seedRun(store());
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 2_000 });
      const itemA = items.find((i) => i.runId === a.run.id)!;
      const itemB = items.find((i) => i.runId === b.run.id)!;
      await store().commitTransition({ runId: a.run.id, itemId: itemA.id });
      await store().commitTransition({ runId: b.run.id, itemId: itemB.id, reschedule: { availableAt: 3_000, attempt: 2 } });
      const later = await store().claimQueueItems({ now: 3_000, limit: 10, leaseUntil: 4_000 });
      expect(later.items).toHaveLength(1);
      expect(later.items[0]).toMatchObject({ runId: b.run.id, attempt: 2, kind: QueueItemKind.Discovery });
    });

    it("a transition script sees the run's other items, read in its own transaction", async () => {
      const { run } = await seedRun(store());
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 2_000 });
      await store().commitTransition({
        runId: run.id,
        itemId: items[0]!.id,
        enqueue: [
          { runId: run.id, kind: QueueItemKind.Step, stepId: "s1", attempt: 0, availableAt: 1_000 },
          { runId: run.id, kind: QueueItemKind.Step, stepId: "s2", attempt: 0, availableAt: 1_000 },
        ],
      });
      const branches = (await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 2_000 })).items;
      expect(branches.map((i) => i.stepId).sort()).toEqual(["s1", "s2"]);
      const lastBranch = (itemId: string) => ({
        now: 1_000,
        decide: (view: RunView) => ({
          runId: run.id,
          itemId,
          enqueue: view.items().some((i) => i.id !== itemId && i.kind === QueueItemKind.Step) ? [] : [discovery(run.id)],
        }),
      });
      await store().transition(run.id, lastBranch(branches[0]!.id));
      expect(await store().nextAvailableAt()).toBe(2_000);
      await store().transition(run.id, lastBranch(branches[1]!.id));
      const next = (await store().claimQueueItems({ now: 1_000, limit: 10, leaseUntil: 2_000 })).items;
      expect(next).toEqual([expect.objectContaining({ runId: run.id, kind: QueueItemKind.Discovery })]);
    });

    it("clears every item of a run that ends", async () => {
      const { run } = await seedRun(store());
      await store().commitTransition({ runId: run.id, enqueue: [discovery(run.id, 9_000), discovery(run.id, 8_000)] });
      await store().commitTransition({ runId: run.id, run: { status: "Cancelled", endedAt: 2_000 }, clearQueue: true });
      expect(await store().nextAvailableAt()).toBeNull();
    });
  });
}
