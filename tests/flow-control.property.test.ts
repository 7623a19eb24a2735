/**
 * Property-based tests (fast-check) of flow control at run creation: random event streams
 * with a controlled clock go through the real admission rules and the real SQLite store,
 * and the invariants must hold for every stream.
 */
import type { FunctionConfig } from "@stepwise/protocol";
import { SqliteStore } from "@stepwise/store-sqlite";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FunctionRegistry } from "../packages/engine/src/events/function-registry.ts";
import { clonePlan, planIngest } from "../packages/engine/src/events/intake.ts";
import { Admission } from "../packages/engine/src/flow-control/admission.ts";

type Arrival = { at: number; key: string; ts?: number; id?: string };

/** Feeds arrivals (sorted by time) through admission + store; returns the store and, per run, its start time. */
async function drive(config: Partial<FunctionConfig>, arrivals: Arrival[]) {
  const store = new SqliteStore({ filename: ":memory:" });
  await store.migrate();
  const registry = new FunctionRegistry();
  const full: FunctionConfig = { id: "p-fn", slug: "fn", appId: "p", name: "fn", triggers: [{ event: "p/e" }], retries: 0, ...config };
  registry.register([{ config: full, execute: async () => ({ type: "function-resolved", data: null }) }]);
  const admission = new Admission({ registry });
  const starts = new Map<string, { startAt: number; at: number; key: string }>();
  for (const a of [...arrivals].sort((x, y) => x.at - y.at)) {
    const base = planIngest([{ name: "p/e", data: { key: a.key, id: a.id ?? null }, ts: a.ts ?? a.at }], registry, a.at);
    let plan = base;
    await store.ingestEvents(base, {
      now: a.at,
      flowKeys: admission.flowKeys(base),
      decide: (view) => {
        plan = clonePlan(base);
        admission.admit(plan, a.at, view);
        return plan;
      },
    });
    for (const item of plan.items) if (item.lane === 1) starts.set(item.runId, { startAt: item.availableAt, at: a.at, key: a.key });
    for (const update of plan.runUpdates ?? []) {
      const s = starts.get(update.runId);
      if (s && update.startAt !== undefined) s.startAt = update.startAt;
    }
  }
  const runs = await store.listRuns({ limit: 1000 });
  return { store, runs, starts };
}

const arrivals = (maxGapMs: number, keys = ["a", "b"]) =>
  fc.array(fc.record({ gap: fc.integer({ min: 0, max: maxGapMs }), key: fc.constantFrom(...keys) }), { minLength: 1, maxLength: 60 }).map((list) => {
    let at = 1_000_000;
    return list.map(({ gap, key }) => ({ at: (at += gap), key }));
  });

const maxInWindow = (times: number[], windowMs: number) => {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
};

describe("flow control properties", () => {
  it("throttle never starts more than limit + burst per period, per key, and keeps arrival order", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals(3_000), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), async (list, limit, burst) => {
        const { starts } = await drive({ throttle: { limit, period: "10s", burst, key: "event.data.key" } }, list);
        for (const key of ["a", "b"]) {
          const mine = [...starts.values()].filter((s) => s.key === key).sort((x, y) => x.at - y.at);
          expect(
            maxInWindow(
              mine.map((s) => s.startAt),
              10_000,
            ),
          ).toBeLessThanOrEqual(limit + burst);
          for (let i = 1; i < mine.length; i++)
            expect((mine[i] as { startAt: number }).startAt).toBeGreaterThanOrEqual((mine[i - 1] as { startAt: number }).startAt);
          for (const s of mine) expect(s.startAt).toBeGreaterThanOrEqual(s.at);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("rate limit: admitted runs never exceed the limit per period; the rest are Skipped, never delayed", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals(2_000), fc.integer({ min: 1, max: 4 }), async (list, limit) => {
        const { runs, starts } = await drive({ rateLimit: { limit, period: "5s", key: "event.data.key" } }, list);
        expect(runs).toHaveLength(list.length);
        for (const key of ["a", "b"]) {
          const admitted = [...starts.entries()].filter(([, s]) => s.key === key);
          expect(
            maxInWindow(
              admitted.map(([, s]) => s.at),
              5_000,
            ),
          ).toBeLessThanOrEqual(limit);
          for (const [, s] of admitted) expect(s.startAt).toBe(s.at);
        }
        const skipped = runs.filter((r) => r.status === "Skipped");
        expect(skipped.length + starts.size).toBe(list.length);
        for (const r of skipped) expect(r.error?.message).toMatch(/rateLimit of \d+ per 5s reached for key/);
      }),
      { numRuns: 30 },
    );
  });

  it("debounce yields one run per quiet window, carrying the newest event", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals(4_000, ["a"]), async (list) => {
        const { runs, store } = await drive({ debounce: { period: "2s", key: "event.data.key" } }, list);
        // expected windows: a new run whenever the previous one was due (2 s of quiet passed)
        const windows: Arrival[][] = [];
        let dueAt = -1;
        for (const a of list) {
          if (a.at >= dueAt) windows.push([]);
          windows.at(-1)?.push(a);
          dueAt = a.at + 2_000;
        }
        expect(runs).toHaveLength(windows.length);
        const byCreation = [...runs].sort((x, y) => (x.id < y.id ? -1 : 1));
        for (const [i, run] of byCreation.entries()) {
          const event = await store.getEvent(run.eventIds[0] as string);
          expect(event?.receivedAt).toBe(windows[i]?.at(-1)?.at);
          expect(run.eventIds).toHaveLength(1);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("debounce with a timeout starts no later than timeout after a window's first event", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals(2_500, ["a"]), async (list) => {
        const { runs, starts } = await drive({ debounce: { period: "2s", timeout: "3s", key: "event.data.key" } }, list);
        const windows: Array<{ first: number; due: number }> = [];
        for (const a of list) {
          const open = windows.at(-1);
          if (!open || a.at >= open.due) windows.push({ first: a.at, due: Math.min(a.at + 2_000, a.at + 3_000) });
          else open.due = Math.min(a.at + 2_000, open.first + 3_000);
        }
        expect(runs).toHaveLength(windows.length);
        const startTimes = [...starts.values()].map((s) => s.startAt).sort((x, y) => x - y);
        expect(startTimes).toEqual(windows.map((w) => w.due));
        for (const w of windows) expect(w.due - w.first).toBeLessThanOrEqual(3_000);
      }),
      { numRuns: 30 },
    );
  });

  it("batches never exceed maxSize and hold every event exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals(1_500), fc.integer({ min: 1, max: 5 }), async (list, maxSize) => {
        const { runs } = await drive({ batchEvents: { maxSize, timeout: "3s", key: "event.data.key" } }, list);
        const all = runs.flatMap((r) => r.eventIds);
        expect(new Set(all).size).toBe(list.length);
        expect(all).toHaveLength(list.length);
        for (const r of runs) expect(r.eventIds.length).toBeLessThanOrEqual(maxSize);
      }),
      { numRuns: 30 },
    );
  });

  it("idempotent keys run once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom("k1", "k2", "k3"), { minLength: 1, maxLength: 30 }), async (ids) => {
        const list = ids.map((id, i) => ({ at: 1_000_000 + i * 10, key: "a", id }));
        const { runs } = await drive({ idempotency: "event.data.id" }, list);
        expect(runs).toHaveLength(new Set(ids).size);
      }),
      { numRuns: 30 },
    );
  });
});
