import {
  type IngestScript,
  type Lease,
  LeaseLostError,
  type NewQueueItem,
  type QueueItem,
  QueueItemKind,
  type RunRecord,
  StepStatus,
  type Store,
} from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, seedRun, start, useStore, useStorePair } from "./fixtures.ts";

/** One race, written against two handles on one database: the same instance twice, or two instances. */
type Race = (a: Store, b: Store) => Promise<void>;

const far = 1_000_000_000;

/** Stores `n` runs in one ingest, each with the start item `item` makes for it. */
async function seedRuns(store: Store, n: number, item: (runId: string) => NewQueueItem = (runId) => start(runId)): Promise<RunRecord[]> {
  const events = Array.from({ length: n }, () => event());
  const runs = events.map((e) => run([e]));
  await store.ingestEvents({ events, runs, items: runs.map((r) => item(r.id)) });
  return runs;
}

/** Claims from `store` until a claim returns nothing, appending what it got to `into`. */
async function drain(store: Store, into: QueueItem[], params: { now: number; limit: number; leaseUntil: number }): Promise<void> {
  for (let round = 0; round < 1_000; round++) {
    const { items } = await store.claimQueueItems(params);
    if (items.length === 0) return;
    into.push(...items);
  }
  throw new Error("claims never ran dry");
}

/** Claims from both handles at once, two loops each, until every loop ran dry. */
async function drainBoth(a: Store, b: Store, params: { now: number; limit: number; leaseUntil: number }): Promise<QueueItem[]> {
  const claimed: QueueItem[] = [];
  await Promise.all([drain(a, claimed, params), drain(b, claimed, params), drain(a, claimed, params), drain(b, claimed, params)]);
  return claimed;
}

const leaseOf = (item: QueueItem): Lease => ({ itemId: item.id, token: item.token });

const races: Array<[string, Race]> = [
  [
    "hands out each due item exactly once to claims racing for them",
    async (a, b) => {
      const runs = await seedRuns(a, 200);
      const claimed = await drainBoth(a, b, { now: 1_000, limit: 7, leaseUntil: 60_000 });
      const ids = claimed.map((i) => i.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(claimed.map((i) => i.runId).sort()).toEqual(runs.map((r) => r.id).sort());
      expect(claimed.filter((i) => i.startedRun)).toHaveLength(200);
      expect(await b.listRuns({ status: "Running", limit: 1_000 })).toHaveLength(200);
    },
  ],
  [
    "refuses every write made with a lease that expired and was claimed again, changing nothing",
    async (a, b) => {
      const { run: r } = await seedRun(a);
      const [first] = (await a.claimQueueItems({ now: 1_000, limit: 1, leaseUntil: 2_000 })).items;
      const [again] = (await b.claimQueueItems({ now: 2_000, limit: 1, leaseUntil: 5_000 })).items;
      expect(again?.id).toBe(first!.id);
      expect(again?.token).not.toBe(first!.token);
      const stale = leaseOf(first!);
      const current = leaseOf(again!);

      const late = a.commitTransition({
        runId: r.id,
        itemId: stale.itemId,
        lease: stale,
        run: { status: "Completed", output: "late", endedAt: 2_500 },
        clearQueue: true,
      });
      const error = await late.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(LeaseLostError.isLeaseLost(error)).toBe(true);
      expect((error as Error).name).toBe("LeaseLostError");
      await expect(
        a.transition(r.id, {
          now: 2_500,
          lease: stale,
          decide: () => ({ runId: r.id, itemId: stale.itemId, run: { status: "Failed", endedAt: 2_500 }, clearQueue: true }),
        }),
      ).rejects.toMatchObject({ name: "LeaseLostError" });
      const step = { runId: r.id, id: "s", name: "s", op: "StepRun", status: StepStatus.Completed, attempts: 1, output: "late" };
      await expect(a.saveStep(step, stale)).rejects.toMatchObject({ name: "LeaseLostError" });
      expect(await a.extendLeases({ leases: [stale], leaseUntil: 9_000 })).toEqual([stale.itemId]);
      expect(await a.releaseItem(stale)).toBe(false);

      const unchanged = await b.getRun(r.id);
      expect(unchanged).toMatchObject({ status: "Running", leaseExpiries: 1 });
      expect(unchanged?.output).toBeUndefined();
      expect(unchanged?.endedAt).toBeUndefined();
      expect(await b.listSteps(r.id)).toEqual([]);
      // the item is still there, still leased until the take-over's lease ends, and held by the new token
      expect(await b.nextAvailableAt()).toBe(5_000);
      expect((await a.claimQueueItems({ now: 4_999, limit: 10, leaseUntil: 9_000 })).items).toEqual([]);
      expect(await b.extendLeases({ leases: [current], leaseUntil: 6_000 })).toEqual([]);
      expect(
        await b.commitTransition({
          runId: r.id,
          itemId: current.itemId,
          lease: current,
          run: { status: "Completed", output: "ok", endedAt: 3_000 },
          clearQueue: true,
        }),
      ).toBe(true);
      expect(await a.getRun(r.id)).toMatchObject({ status: "Completed", output: "ok", endedAt: 3_000 });
      expect(await a.nextAvailableAt()).toBeNull();
    },
  ],
  [
    "never overwrites a Completed or Failed step",
    async (a, b) => {
      const { run: r } = await seedRun(a);
      const step = (id: string, status: StepStatus, result: { output?: unknown; error?: { name: string; message: string } }, attempts = 1) => ({
        runId: r.id,
        id,
        name: id,
        op: "StepRun",
        status,
        attempts,
        ...result,
      });
      await a.saveStep(step("done", StepStatus.Completed, { output: "A" }));
      await a.saveStep(step("failed", StepStatus.Failed, { error: { name: "Error", message: "first" } }, 3));
      await Promise.all([
        b.saveStep(step("done", StepStatus.Completed, { output: "B" })),
        a.saveStep(step("done", StepStatus.Errored, { error: { name: "Error", message: "retry" } }, 2)),
        b.commitTransition({ runId: r.id, steps: [step("done", StepStatus.Completed, { output: "C" }, 2)] }),
        a.saveStep(step("failed", StepStatus.Completed, { output: "B" }, 4)),
        b.commitTransition({ runId: r.id, steps: [step("failed", StepStatus.Failed, { error: { name: "Error", message: "second" } }, 4)] }),
      ]);
      const steps = await b.listSteps(r.id);
      expect(steps.map((s) => [s.id, s.status, s.attempts, s.output ?? s.error?.message])).toEqual([
        ["done", "Completed", 1, "A"],
        ["failed", "Failed", 3, "first"],
      ]);
    },
  ],
  [
    "serializes transitions of one run: each script sees the writes of the ones before it",
    async (a, b) => {
      const e = event();
      const r = run([e]);
      await a.ingestEvents({ events: [e], runs: [r], items: [] });
      const n = 50;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          (i % 2 ? b : a).transition(r.id, {
            now: 1_000,
            decide: (view) => ({
              runId: r.id,
              enqueue: [{ runId: r.id, kind: QueueItemKind.Discovery, attempt: view.items().length, availableAt: far }],
            }),
          }),
        ),
      );
      expect(results).toEqual(Array.from({ length: n }, () => true));
      let seen: QueueItem[] = [];
      const wrote = await b.transition(r.id, {
        now: 1_000,
        decide: (view) => {
          seen = view.items();
          return undefined;
        },
      });
      expect(wrote).toBe(false);
      expect(seen.map((i) => i.attempt).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    },
  ],
  [
    "admission scripts racing on one flow key lose no update",
    async (a, b) => {
      const count: IngestScript = {
        now: 1_000,
        flowKeys: ["k"],
        decide: (view) => {
          const n = view.flow("k") as number | undefined;
          return { events: [], runs: [], items: [], flowState: [{ key: "k", value: (n ?? 0) + 1, expiresAt: far }] };
        },
      };
      await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? b : a).ingestEvents({ events: [event()], runs: [], items: [] }, count)));
      expect(await a.getFlowState(["k"], 1_000)).toEqual(new Map([["k", 200]]));
      expect(await b.getFlowState(["k"], 1_000)).toEqual(new Map([["k", 200]]));
    },
  ],
  [
    "claims racing on a concurrency key never lease more than its limit, and a full key holds up nothing else",
    async (a, b) => {
      const claim = { key: "k", limit: 3 };
      const keyed = await seedRuns(a, 50, (runId) => ({ ...start(runId, 1_000), concurrency: [claim] }));
      const free = await seedRuns(a, 10, (runId) => start(runId, 1_001));
      const isKeyed = (i: QueueItem) => i.concurrency?.some((c) => c.key === "k") ?? false;

      const first = await drainBoth(a, b, { now: 2_000, limit: 10, leaseUntil: 10_000 });
      expect(first.filter(isKeyed)).toHaveLength(3);
      expect(
        first
          .filter((i) => !isKeyed(i))
          .map((i) => i.runId)
          .sort(),
      ).toEqual(free.map((r) => r.id).sort());
      expect(first.filter(isKeyed)[0]?.concurrency).toEqual([claim]);

      const holding = new Set(first.map((i) => i.runId));
      const waiting = keyed.filter((r) => !holding.has(r.id));
      expect(waiting).toHaveLength(47);
      expect(await b.concurrencyWait(waiting[0]!.id, 2_000)).toEqual(claim);
      expect(await a.getRun(waiting[0]!.id)).toMatchObject({ status: "Queued" });

      expect(await a.releaseItem(leaseOf(first.filter(isKeyed)[0]!))).toBe(true);
      const afterRelease = await drainBoth(a, b, { now: 2_000, limit: 10, leaseUntil: 10_000 });
      expect(afterRelease.filter(isKeyed)).toHaveLength(1);
      expect(afterRelease).toHaveLength(1);

      // every lease has expired at 10_000: the slots are free again (the expired items are due again too)
      const afterExpiry = await drainBoth(a, b, { now: 10_000, limit: 10, leaseUntil: 20_000 });
      expect(afterExpiry.filter(isKeyed)).toHaveLength(3);
      expect(afterExpiry.filter((i) => !isKeyed(i))).toHaveLength(10);
    },
  ],
];

export function racesSuite(factory: StoreFactory) {
  describe("races", () => {
    describe("one instance, concurrent calls", () => {
      const store = useStore(factory);
      for (const [name, race] of races) it(name, () => race(store(), store()));
    });

    const twoInstances = factory.createPeer
      ? "two instances on one database"
      : "two instances on one database: skipped, this factory has no createPeer (it cannot open a second instance on the same database)";
    describe(twoInstances, () => {
      const { store, peer } = useStorePair(factory);
      for (const [name, race] of races) it.skipIf(!factory.createPeer)(name, () => race(store(), peer()!));
    });
  });
}
