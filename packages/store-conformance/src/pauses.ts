import { PauseKind, QueueItemKind } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, type StoreFactory, seedRun, useStore } from "./fixtures.ts";

export function pausesSuite(factory: StoreFactory) {
  describe("pauses, cron and apps", () => {
    const store = useStore(factory);
    const pause = (runId: string, id: string, indexValue?: string) => ({
      id: `${runId}:${id}`,
      runId,
      kind: PauseKind.Wait,
      stepId: id,
      eventName: "shipping/label",
      ...(indexValue !== undefined ? { indexPath: "data.orderId", indexValue, exact: true } : { expression: "async.data.n > 1" }),
      createdAt: 1_000,
      expiresAt: 9_000,
    });

    it("finds pauses by index value, and unindexed ones by name", async () => {
      const a = await seedRun(store());
      const b = await seedRun(store());
      await store().commitTransition({ runId: a.run.id, pauses: [pause(a.run.id, "s1", '"o-1"')] });
      await store().commitTransition({ runId: b.run.id, pauses: [pause(b.run.id, "s2", '"o-2"'), pause(b.run.id, "s3")] });
      expect(await store().pausePaths("shipping/label")).toEqual(["data.orderId"]);
      expect((await store().findPauses({ eventName: "shipping/label", indexPath: "data.orderId", indexValue: '"o-2"' })).map((p) => p.id)).toEqual([
        `${b.run.id}:s2`,
      ]);
      expect(await store().findPauses({ eventName: "shipping/label", indexPath: "data.orderId", indexValue: '"o-3"' })).toEqual([]);
      expect(await store().findPauses({ eventName: "shipping/label" })).toEqual([{ ...pause(b.run.id, "s3") }]);
      expect(await store().findPauses({ eventName: "other" })).toEqual([]);
    });

    it("consumes a pause once: the second transition is skipped and only releases its item", async () => {
      const { run } = await seedRun(store());
      await store().commitTransition({
        runId: run.id,
        pauses: [pause(run.id, "s", '"x"')],
        enqueue: [{ runId: run.id, kind: QueueItemKind.PauseTimeout, stepId: "s", attempt: 0, availableAt: 9_000 }],
      });
      const first = await store().commitTransition({
        runId: run.id,
        consumePause: `${run.id}:s`,
        cancelItems: [{ kind: QueueItemKind.PauseTimeout, stepId: "s" }],
      });
      const second = await store().commitTransition({ runId: run.id, consumePause: `${run.id}:s`, run: { status: "Failed", endedAt: 1 } });
      expect([first, second]).toEqual([true, false]);
      expect((await store().getRun(run.id))?.status).toBe("Queued");
      // the timeout item was cancelled with the first resume; only the start item is left
      expect((await store().claimQueueItems({ now: 10_000, limit: 10, leaseUntil: 20_000 })).items.map((i) => i.kind)).toEqual([QueueItemKind.Discovery]);
    });

    it("ignores transitions of a run that already ended, except releasing the held item", async () => {
      const { run } = await seedRun(store());
      const { items } = await store().claimQueueItems({ now: 1_000, limit: 1, leaseUntil: 2_000 });
      await store().commitTransition({ runId: run.id, run: { status: "Cancelled", endedAt: 1 } });
      const applied = await store().commitTransition({ runId: run.id, itemId: items[0]!.id, run: { status: "Completed", output: 1, endedAt: 2 } });
      expect(applied).toBe(false);
      expect((await store().getRun(run.id))?.status).toBe("Cancelled");
      expect(await store().nextAvailableAt()).toBeNull();
    });

    it("drops the runs of an event whose sender id was seen within the window", async () => {
      const first = { ...event("pay"), id: "p-1" };
      await store().ingestEvents({ events: [first], runs: [], items: [], dedupeSince: 0 });
      const again = { ...event("pay"), id: "p-1" };
      const { run } = await seedRun(store());
      const result = await store().ingestEvents({
        events: [again],
        runs: [{ ...run, id: `${run.id}x`, eventIds: [again.internalId] }],
        items: [],
        dedupeSince: 0,
      });
      expect(result.duplicates).toEqual([again.internalId]);
      expect(await store().getEvent(again.internalId)).toBeDefined();
      expect(await store().getRun(`${run.id}x`)).toBeUndefined();
    });

    it("lists events by name within a time window", async () => {
      const events = [event("a", {}, 100), event("a", {}, 200), event("b", {}, 150)];
      await store().ingestEvents({ events, runs: [], items: [] });
      expect((await store().listEventsByName({ name: "a", since: 150, until: 300, limit: 10 })).map((e) => e.receivedAt)).toEqual([200]);
    });

    it("advances a cron schedule once, writing its tick with it", async () => {
      await store().ensureCronSchedule({ functionId: "app-fn", expression: "* * * * *", nextAt: 60_000 });
      await store().ensureCronSchedule({ functionId: "app-fn", expression: "* * * * *", nextAt: 1 });
      expect(await store().listCronSchedules()).toEqual([{ functionId: "app-fn", expression: "* * * * *", nextAt: 60_000 }]);
      const tick = event("inngest/scheduled.timer");
      const moved = await store().advanceCronSchedule({
        functionId: "app-fn",
        expression: "* * * * *",
        fromAt: 60_000,
        toAt: 120_000,
        emit: { events: [tick], runs: [], items: [] },
      });
      const again = await store().advanceCronSchedule({
        functionId: "app-fn",
        expression: "* * * * *",
        fromAt: 60_000,
        toAt: 120_000,
        emit: { events: [event("x")], runs: [], items: [] },
      });
      expect([moved, again]).toEqual([true, false]);
      expect(await store().getEvent(tick.internalId)).toBeDefined();
      expect((await store().listCronSchedules())[0]?.nextAt).toBe(120_000);
    });

    it("stores apps by URL, a later sync replacing the earlier one", async () => {
      const functions = [{ id: "shop-a", name: "A", triggers: [{ event: "x" }], steps: { step: { runtime: { url: "http://h/api?fnId=shop-a" } } } }];
      await store().saveApp({ url: "http://h/api", appName: "shop", sdk: "js:v4", functions, syncedAt: 1 });
      await store().saveApp({ url: "http://other/api", appName: "other", functions: [], syncedAt: 2 });
      await store().saveApp({ url: "http://h/api", appName: "shop", framework: "express", functions: [], syncedAt: 3 });
      expect(await store().listApps()).toEqual([
        { url: "http://h/api", appName: "shop", framework: "express", functions: [], syncedAt: 3 },
        { url: "http://other/api", appName: "other", functions: [], syncedAt: 2 },
      ]);
    });
  });
}
