import { StepStatus } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { event, run, type StoreFactory, seedRun, useStore } from "./fixtures.ts";

export function runsSuite(factory: StoreFactory) {
  describe("runs and steps", () => {
    const store = useStore(factory);

    it("loads a run with its events (in order) and its steps (in completion order)", async () => {
      const e1 = event("a", { n: 1 });
      const e2 = event("b", { n: 2 });
      const r = run([e2, e1]);
      await store().ingestEvents({ events: [e1, e2], runs: [r], items: [] });
      await store().saveStep({
        runId: r.id,
        id: "h2",
        name: "second",
        op: "StepRun",
        status: StepStatus.Completed,
        attempts: 1,
        output: { at: "x" },
        input: { args: [1] },
      });
      await store().saveStep({
        runId: r.id,
        id: "h1",
        name: "first",
        op: "StepRun",
        status: StepStatus.Failed,
        attempts: 3,
        error: { name: "Error", message: "boom" },
      });
      const state = await store().loadRunState(r.id);
      expect(state?.events.map((e) => e.name)).toEqual(["b", "a"]);
      expect(state?.events[0]).toEqual({ id: e2.id, name: "b", data: { n: 2 }, user: {}, ts: e2.ts });
      expect(state?.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
        ["second", "Completed", 1],
        ["first", "Failed", 3],
      ]);
      expect(state?.steps[0]?.output).toEqual({ at: "x" });
      expect(state?.steps[0]?.input).toEqual({ args: [1] });
      expect(state?.steps[1]?.error).toEqual({ name: "Error", message: "boom" });
    });

    it("replaces a step, moving it to the end of the order when it completes", async () => {
      const { run: r } = await seedRun(store());
      await store().saveStep({ runId: r.id, id: "a", name: "a", op: "StepPlanned", status: StepStatus.Planned, attempts: 0 });
      await store().saveStep({ runId: r.id, id: "b", name: "b", op: "StepRun", status: StepStatus.Completed, attempts: 1, output: 1 });
      await store().commitTransition({
        runId: r.id,
        steps: [{ runId: r.id, id: "a", name: "a", op: "StepRun", status: StepStatus.Completed, attempts: 2, output: null }],
      });
      const steps = await store().listSteps(r.id);
      expect(steps.map((s) => [s.id, s.status])).toEqual([
        ["b", "Completed"],
        ["a", "Completed"],
      ]);
      expect(steps[1]?.output).toBeNull();
    });

    it("settles a waiting step in place, keeping its place in the order", async () => {
      const { run: r } = await seedRun(store());
      await store().saveStep({ runId: r.id, id: "w", name: "wait", op: "WaitForEvent", status: StepStatus.Waiting, attempts: 0, startedAt: 1, wakeAt: 99 });
      await store().saveStep({ runId: r.id, id: "x", name: "x", op: "StepRun", status: StepStatus.Completed, attempts: 1, output: 1 });
      await store().commitTransition({ runId: r.id, settleSteps: [{ id: "w", status: StepStatus.Completed, output: { name: "e" }, endedAt: 5, attempts: 1 }] });
      const steps = await store().listSteps(r.id);
      expect(steps.map((s) => s.id)).toEqual(["w", "x"]);
      expect(steps[0]).toEqual({
        runId: r.id,
        id: "w",
        name: "wait",
        op: "WaitForEvent",
        status: "Completed",
        attempts: 1,
        output: { name: "e" },
        startedAt: 1,
        endedAt: 5,
      });
    });

    it("ends a run with its output or error", async () => {
      const a = await seedRun(store());
      const b = await seedRun(store());
      await store().commitTransition({ runId: a.run.id, run: { status: "Completed", output: { ok: [1, 2] }, endedAt: 5 }, clearQueue: true });
      await store().commitTransition({ runId: b.run.id, run: { status: "Failed", error: { name: "E", message: "m" }, endedAt: 6 }, clearQueue: true });
      expect(await store().getRun(a.run.id)).toMatchObject({ status: "Completed", output: { ok: [1, 2] }, endedAt: 5 });
      expect(await store().getRun(b.run.id)).toMatchObject({ status: "Failed", error: { name: "E", message: "m" }, endedAt: 6 });
    });

    it("lists runs by event, function and status, newest first", async () => {
      const a = await seedRun(store(), { functionId: "app-one" });
      const b = await seedRun(store(), { functionId: "app-two" });
      await store().commitTransition({ runId: b.run.id, run: { status: "Completed", endedAt: 1 }, clearQueue: true });
      expect((await store().listRuns({ eventId: a.event.internalId })).map((r) => r.id)).toEqual([a.run.id]);
      expect((await store().listRuns({ functionId: "app-two" })).map((r) => r.id)).toEqual([b.run.id]);
      expect((await store().listRuns({ status: "Queued" })).map((r) => r.id)).toEqual([a.run.id]);
      expect((await store().listRuns({})).map((r) => r.id)).toEqual([b.run.id, a.run.id]);
      expect(await store().listRuns({ limit: 1 })).toHaveLength(1);
    });

    it("records a transition's request version and sets or clears its waitingOn", async () => {
      const { run } = await seedRun(store());
      const waiting = { kind: "app" as const, since: 1, until: 2, failures: 1, reason: "connection refused" };
      await store().commitTransition({ runId: run.id, requestVersion: 1, waitingOn: waiting });
      expect(await store().getRun(run.id)).toMatchObject({ requestVersion: 1, waitingOn: waiting });
      await store().commitTransition({ runId: run.id, waitingOn: null });
      expect((await store().getRun(run.id))?.waitingOn).toBeUndefined();
      expect((await store().getRun(run.id))?.requestVersion).toBe(1);
    });

    it("records a run's parallel phase: kept until a transition ends it", async () => {
      const { run } = await seedRun(store());
      expect((await store().getRun(run.id))?.parallel).toBeUndefined();
      await store().commitTransition({ runId: run.id, parallel: true });
      expect((await store().getRun(run.id))?.parallel).toBe(true);
      await store().commitTransition({ runId: run.id, waitingOn: null });
      expect((await store().getRun(run.id))?.parallel).toBe(true);
      await store().commitTransition({ runId: run.id, parallel: false });
      expect((await store().getRun(run.id))?.parallel).toBeUndefined();
    });

    it("keeps a run's trace context, written with the run (ingested or emitted by a transition), and none for a run without", async () => {
      const e1 = event("a");
      const e2 = event("b");
      const traced = { ...run([e1]), traceContext: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01/00f067aa0ba902b7" };
      const plain = run([e2]);
      await store().ingestEvents({ events: [e1, e2], runs: [traced, plain], items: [] });
      expect((await store().getRun(traced.id))?.traceContext).toBe(traced.traceContext);
      expect((await store().loadRunState(traced.id))?.run.traceContext).toBe(traced.traceContext);
      expect(await store().getRun(plain.id)).not.toHaveProperty("traceContext");
      expect((await store().listRuns({})).find((r) => r.id === traced.id)?.traceContext).toBe(traced.traceContext);
      const emitted = event("child");
      const child = { ...run([emitted], "app-child"), traceContext: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" };
      await store().commitTransition({ runId: traced.id, emit: { events: [emitted], runs: [child], items: [] } });
      expect((await store().getRun(child.id))?.traceContext).toBe(child.traceContext);
      // the run's other writes leave it alone
      await store().commitTransition({ runId: traced.id, run: { status: "Completed", output: 1, endedAt: 2 }, clearQueue: true });
      expect((await store().getRun(traced.id))?.traceContext).toBe(traced.traceContext);
    });

    it("returns undefined for unknown ids", async () => {
      expect(await store().getRun("nope")).toBeUndefined();
      expect(await store().loadRunState("nope")).toBeUndefined();
      expect(await store().getEvent("nope")).toBeUndefined();
    });
  });
}
