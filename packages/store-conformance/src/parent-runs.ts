import { RunStatus } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, seedRun, start, useStore } from "./fixtures.ts";

/** Deferred runs (`defer()`): a run records the run that deferred it, and a parent lists its children. */
export function parentRunsSuite(factory: StoreFactory) {
  describe("deferred runs and their parent", () => {
    const store = useStore(factory);

    it("stores a run's parent, started by its parent's final transition, and lists a parent's children only", async () => {
      const parent = await seedRun(store(), { functionId: "app-parent" });
      const other = await seedRun(store(), { functionId: "app-parent" });
      const e1 = event("inngest/deferred.schedule", { n: 1 });
      const e2 = event("inngest/deferred.schedule", { n: 2 });
      const c1 = { ...run([e1], "app-child"), parentRunId: parent.run.id };
      const c2 = { ...run([e2], "app-child"), parentRunId: parent.run.id };
      const written = await store().commitTransition({
        runId: parent.run.id,
        run: { status: RunStatus.Completed, output: null, endedAt: 2_000 },
        clearQueue: true,
        emit: { events: [e1, e2], runs: [c1, c2], items: [start(c1.id), start(c2.id)] },
      });
      expect(written).toBe(true);
      expect(await store().getRun(c1.id)).toMatchObject({ parentRunId: parent.run.id, functionId: "app-child", status: "Queued" });
      expect((await store().loadRunState(c2.id))?.run.parentRunId).toBe(parent.run.id);
      expect((await store().getRun(parent.run.id))?.parentRunId).toBeUndefined();
      expect((await store().listRuns({ parentRunId: parent.run.id })).map((r) => r.id)).toEqual([c2.id, c1.id]);
      expect(await store().listRuns({ parentRunId: other.run.id })).toEqual([]);
      expect((await store().listRuns({ parentRunId: parent.run.id, limit: 1 })).map((r) => r.id)).toEqual([c2.id]);
    });
  });
}
