import { describe, expect, it } from "vitest";
import { discovery, event, run, type StoreFactory, useStore } from "./fixtures.ts";

export function eventsSuite(factory: StoreFactory) {
  describe("events", () => {
    const store = useStore(factory);

    it("lists events newest first, by name, with a cursor", async () => {
      const [a, b, c] = [event("x"), event("y"), event("x")];
      await store().ingestEvents({ events: [a!, b!, c!], runs: [], items: [] });
      expect((await store().listEvents({ limit: 10 })).map((e) => e.internalId)).toEqual([c!.internalId, b!.internalId, a!.internalId]);
      expect((await store().listEvents({ name: "x", limit: 10 })).map((e) => e.internalId)).toEqual([c!.internalId, a!.internalId]);
      expect((await store().listEvents({ limit: 10, before: b!.internalId })).map((e) => e.internalId)).toEqual([a!.internalId]);
      expect(await store().listEvents({ limit: 1 })).toHaveLength(1);
    });

    it("stores events with their payload", async () => {
      const e = { ...event("shop/order", { items: [1, { a: null }], text: "é ✓" }), user: { id: "u" }, v: "2" };
      await store().ingestEvents({ events: [e], runs: [], items: [] });
      expect(await store().getEvent(e.internalId)).toEqual(e);
    });

    it("writes events emitted by a transition together with the runs they start", async () => {
      const e = event();
      const r = run([e]);
      await store().ingestEvents({ events: [e], runs: [r], items: [] });
      const emitted = event("inngest/function.finished", { run_id: r.id });
      const follower = run([emitted], "app-follower");
      await store().commitTransition({
        runId: r.id,
        run: { status: "Completed", output: 1, endedAt: 2 },
        clearQueue: true,
        emit: { events: [emitted], runs: [follower], items: [discovery(follower.id)] },
      });
      expect(await store().getEvent(emitted.internalId)).toMatchObject({ name: "inngest/function.finished" });
      expect((await store().claimQueueItems({ now: 1_000, limit: 5, leaseUntil: 2_000 })).items.map((i) => i.runId)).toEqual([follower.id]);
    });

    it("stores nothing from an ingest that fails part-way", async () => {
      const e = event();
      const r = run([e]);
      await store().ingestEvents({ events: [e], runs: [r], items: [] });
      const fresh = event();
      await expect(store().ingestEvents({ events: [fresh], runs: [r], items: [] })).rejects.toThrow();
      expect(await store().getEvent(fresh.internalId)).toBeUndefined();
    });

    it("a failing write among concurrent ones rolls back alone", async () => {
      const taken = event();
      const r = run([taken]);
      await store().ingestEvents({ events: [taken], runs: [r], items: [] });
      const before = event();
      const bad = event();
      const after = event();
      const results = await Promise.allSettled([
        store().ingestEvents({ events: [before], runs: [], items: [] }),
        store().ingestEvents({ events: [bad], runs: [r], items: [] }),
        store().ingestEvents({ events: [after], runs: [], items: [] }),
      ]);
      expect(results.map((x) => x.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(await store().getEvent(before.internalId)).toBeDefined();
      expect(await store().getEvent(bad.internalId)).toBeUndefined();
      expect(await store().getEvent(after.internalId)).toBeDefined();
    });
  });
}
