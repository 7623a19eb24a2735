/**
 * `defer(id, { function, data })` with our SDK, in-process: the deferred run starts once
 * its parent ends (Completed or Failed, never Cancelled), linked to it; `abort()` keeps
 * it from starting; a defer is recorded once however often the handler replays.
 */
import { createDefer, NonRetriableError, Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { runsOf, sendAndWait, startEngine, until } from "./helpers.ts";

function setup() {
  const c = new Stepwise({ id: "dfr", logger: silentLogger });
  const seen: Array<{ data: unknown; parents: unknown; parentEnded: boolean }> = [];
  const ended = new Set<string>();
  const notify = createDefer<{ tag: string; n?: number }>(c, { id: "notify" }, async ({ event, parents, step }) => {
    seen.push({ data: event.data, parents, parentEnded: ended.has(event.data.tag) });
    return step.run("ack", () => `ack ${event.data.tag}`);
  });
  return { c, seen, ended, notify };
}

async function childrenOf(engine: Awaited<ReturnType<typeof startEngine>>["engine"], parentRunId: string, count: number) {
  let children = await engine.listRuns({ parentRunId });
  await until(async () => {
    children = await engine.listRuns({ parentRunId });
    return children.length >= count && children.every((r) => r.status === "Completed");
  });
  return children;
}

describe("defer, in-process", () => {
  it("starts the deferred run after the parent completes, once, with the caller's data and its parent", async () => {
    const { c, seen, ended, notify } = setup();
    const parent = c.createFunction({ id: "parent" }, { event: "d/go" }, async ({ event, step, defer }) => {
      defer("tell", { function: notify, data: { tag: event.data.tag as string, n: 1 } });
      await step.run("one", () => 1);
      await step.sleep("nap", "30ms");
      await step.run("two", () => ended.add(event.data.tag as string) && 2);
      return "done";
    });
    const { engine } = await startEngine({ client: c, functions: [notify, parent] });
    const run = await sendAndWait(engine, c, { name: "d/go", data: { tag: "go" } });
    expect(run).toMatchObject({ status: "Completed", output: "done" });
    const [child, ...rest] = await childrenOf(engine, run.id, 1);
    expect(rest).toEqual([]);
    expect(child).toMatchObject({ functionId: "dfr-notify", parentRunId: run.id, status: "Completed", output: "ack go" });
    expect(seen).toEqual([{ data: { tag: "go", n: 1 }, parents: [{ fnSlug: "dfr-parent", runId: run.id }], parentEnded: true }]);
    expect(run.steps.filter((s) => s.op === "DeferAdd").map((s) => s.name)).toEqual(["tell"]);
  });

  it("abort() keeps a deferred run from starting, before or after the defer was recorded", async () => {
    const { c, seen, notify } = setup();
    const parent = c.createFunction({ id: "aborter" }, { event: "d/abort" }, async ({ step, defer }) => {
      const early = defer("early", { function: notify, data: { tag: "early" } });
      early.abort(); // never shipped
      const late = defer("late", { function: notify, data: { tag: "late" } });
      defer("kept", { function: notify, data: { tag: "kept" } });
      await step.run("one", () => 1); // ships "late" and "kept" with this checkpoint
      late.abort();
      await step.sleep("nap", "20ms");
      return "ok";
    });
    const { engine } = await startEngine({ client: c, functions: [notify, parent] });
    const run = await sendAndWait(engine, c, { name: "d/abort" });
    expect(run.status).toBe("Completed");
    const children = await childrenOf(engine, run.id, 1);
    expect(children).toHaveLength(1);
    expect(seen.map((s) => (s.data as { tag: string }).tag)).toEqual(["kept"]);
    expect(run.steps.filter((s) => s.op === "DeferAdd").map((s) => s.name)).toEqual(["late", "kept"]);
    expect(run.steps.filter((s) => s.op === "DeferAbort").map((s) => s.name)).toEqual(["late:abort"]);
  });

  it("a failed parent starts its defers; a cancelled one does not", async () => {
    const { c, seen, notify } = setup();
    let sleeping = false;
    const failing = c.createFunction({ id: "failing", retries: 0 }, { event: "d/fail" }, async ({ defer }) => {
      defer("after", { function: notify, data: { tag: "after-failure" } });
      throw new NonRetriableError("broke");
    });
    const cancelled = c.createFunction({ id: "cancelled" }, { event: "d/cancel" }, async ({ step, defer }) => {
      defer("never", { function: notify, data: { tag: "after-cancel" } });
      await step.run("mark", () => {
        sleeping = true;
      });
      await step.sleep("long", "1h");
    });
    const { engine } = await startEngine({ client: c, functions: [notify, failing, cancelled] });
    const failed = await sendAndWait(engine, c, { name: "d/fail" });
    expect(failed.status).toBe("Failed");
    expect(await childrenOf(engine, failed.id, 1)).toHaveLength(1);
    const { ids } = await c.send({ name: "d/cancel" });
    const [run] = await runsOf(engine, ids[0]);
    await until(() => sleeping);
    await until(async () => (await engine.getRun(run?.id as string))?.steps.some((s) => s.name === "long") ?? false);
    await engine.cancelRun(run?.id as string);
    expect((await engine.waitForRun(run?.id as string)).status).toBe("Cancelled");
    // the cancel's commit is where the defer would have been scheduled: it has happened
    expect(await engine.listRuns({ parentRunId: run?.id as string })).toEqual([]);
    expect(seen.map((s) => (s.data as { tag: string }).tag)).toEqual(["after-failure"]);
  });

  it("a defer reported with a retried error is recorded once; the run that then completes starts it once", async () => {
    const { c, seen, notify } = setup();
    let attempts = 0;
    const flaky = c.createFunction({ id: "flaky", retries: 2 }, { event: "d/flaky" }, async ({ defer }) => {
      defer("once", { function: notify, data: { tag: "once" } });
      if (++attempts < 3) throw new Error(`flake ${attempts}`);
      return "ok";
    });
    const { engine } = await startEngine({ client: c, functions: [notify, flaky] });
    const run = await sendAndWait(engine, c, { name: "d/flaky" });
    expect(run).toMatchObject({ status: "Completed", output: "ok" });
    expect(attempts).toBe(3);
    expect(run.steps.filter((s) => s.op === "DeferAdd")).toHaveLength(1);
    expect(await childrenOf(engine, run.id, 1)).toHaveLength(1);
    expect(seen.map((s) => (s.data as { tag: string }).tag)).toEqual(["once"]);
  });

  it("rejects a target that is not a deferred function, naming the defer", async () => {
    const { c, notify } = setup();
    const plain = c.createFunction({ id: "plain" }, { event: "d/plain" }, async () => "plain");
    const misuse = c.createFunction({ id: "misuse", retries: 0 }, { event: "d/misuse" }, async ({ defer }) => {
      defer("wrong", { function: plain as never, data: {} });
    });
    const { engine } = await startEngine({ client: c, functions: [notify, plain, misuse] });
    const run = await sendAndWait(engine, c, { name: "d/misuse" });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/defer\("wrong"\): options.function must be a function made by createDefer/);
  });

  it("a deferred run is in its parent's sessions; the defer's meta.sessions override them per key; bad meta is refused naming the field", async () => {
    const c = new Stepwise({ id: "dses", logger: silentLogger });
    const sessions: Record<string, unknown> = {};
    const record = createDefer<{ tag: string }>(c, { id: "record" }, async ({ event, sessions: own }) => {
      sessions[event.data.tag] = own ?? null;
    });
    const parent = c.createFunction({ id: "parent" }, { event: "ds/go" }, async ({ defer }) => {
      defer("inherit", { function: record, data: { tag: "inherit" } });
      defer("override", { function: record, data: { tag: "override" }, meta: { sessions: { org: "override", team: null } } });
      return "ok";
    });
    const bad = c.createFunction({ id: "bad", retries: 0 }, { event: "ds/bad" }, async ({ defer }) => {
      defer("wrong", { function: record, data: { tag: "wrong" }, meta: { sessions: { org: { nested: true } } } as never });
    });
    const { engine } = await startEngine({ client: c, functions: [record, parent, bad] });
    const run = await sendAndWait(engine, c, { name: "ds/go", data: {}, meta: { sessions: { org: "acme", team: "core" } } });
    expect(run.status).toBe("Completed");
    await childrenOf(engine, run.id, 2);
    expect(sessions).toEqual({ inherit: { org: "acme", team: "core" }, override: { org: "override" } });
    const failed = await sendAndWait(engine, c, { name: "ds/bad", data: {} });
    expect(failed.status).toBe("Failed");
    expect(failed.error?.message).toMatch(/defer\("wrong"\)\.options: "meta\.sessions\.org"/);
  });
});
