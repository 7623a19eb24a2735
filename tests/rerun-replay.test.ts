/**
 * Rerun from a step (earlier steps memoized, copied from the original; optionally new
 * event data) and bulk replay jobs (background batches, progress, resumable after a crash
 * and a restart, every run replayed once). On SQLite, or Postgres with STEPWISE_TEST_STORE=postgres.
 */
import { join } from "node:path";
import { Stepwise, silentLogger } from "stepwise";
import type { Engine } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { pollUntil, runsOf, startEngine, tempDir } from "./helpers.ts";

function pipeline() {
  const client = new Stepwise({ id: "rr", logger: silentLogger });
  const calls = { fetch: 0, charge: 0, notify: 0 };
  let failCharge = true;
  const fn = client.createFunction({ id: "pipeline", retries: 0 }, { event: "rr/order" }, async ({ event, step }) => {
    const fetched = await step.run("fetch", () => {
      calls.fetch++;
      return { order: event.data.order as string, fetchedAt: calls.fetch };
    });
    const charged = await step.run("charge", () => {
      calls.charge++;
      if (failCharge) throw new Error("card declined");
      return `charged ${fetched.order} x${event.data.qty ?? 1}`;
    });
    await step.run("notify", () => {
      calls.notify++;
    });
    return { fetched, charged };
  });
  // listens on the same event name: an edited copy of the event must not start it
  const other = client.createFunction({ id: "audit" }, { event: "rr/order" }, async () => "audited");
  return { client, fns: [fn, other], calls, fix: () => (failCharge = false) };
}

async function failedRun(engine: Engine, client: Stepwise, data: Record<string, unknown>) {
  const { ids } = await client.send({ name: "rr/order", data });
  const run = (await runsOf(engine, ids[0])).find((r) => r.functionId === "rr-pipeline");
  if (!run) throw new Error("no pipeline run");
  const ended = await engine.waitForRun(run.id, { timeoutMs: 10_000 });
  expect(ended.status).toBe("Failed");
  return ended;
}

describe("rerun from a step", () => {
  it("copies the steps before it (memoized, not executed again) and executes it and the rest; the new run links to the original", async () => {
    const { client, fns, calls, fix } = pipeline();
    const { engine } = await startEngine({ client, functions: fns });
    const original = await failedRun(engine, client, { order: "o-1" });
    expect(calls).toEqual({ fetch: 1, charge: 1, notify: 0 });
    fix();
    const rerunId = await engine.rerun(original.id, { fromStep: "charge" });
    const rerun = await engine.waitForRun(rerunId, { timeoutMs: 10_000 });
    expect(rerun.status).toBe("Completed");
    expect(calls).toEqual({ fetch: 1, charge: 2, notify: 1 });
    // the memoized fetch output is the original's (fetchedAt 1), copied
    expect(rerun.output).toEqual({ fetched: { order: "o-1", fetchedAt: 1 }, charged: "charged o-1 x1" });
    expect(rerun).toMatchObject({ rerunOf: original.id, rerunFromStep: "charge" });
    expect(rerun.steps.map((s) => [s.name, s.status])).toEqual([
      ["fetch", "Completed"],
      ["charge", "Completed"],
      ["notify", "Completed"],
    ]);
    expect(rerun.eventIds).toEqual(original.eventIds);
    // the original is untouched
    expect((await engine.getRun(original.id))?.status).toBe("Failed");
    expect((await engine.getRun(original.id))?.rerunOf).toBeUndefined();
  });

  it("from the first step with new event data: nothing is copied, the edited event is stored and starts no other function", async () => {
    const { client, fns, calls, fix } = pipeline();
    const { engine } = await startEngine({ client, functions: fns });
    const original = await failedRun(engine, client, { order: "o-2" });
    fix();
    const auditsBefore = (await engine.listRuns({ functionId: "rr-audit" })).length;
    const rerunId = await engine.rerun(original.id, { fromStep: "fetch", data: { order: "o-2b", qty: 3 } });
    const rerun = await engine.waitForRun(rerunId, { timeoutMs: 10_000 });
    expect(rerun.output).toEqual({ fetched: { order: "o-2b", fetchedAt: 2 }, charged: "charged o-2b x3" });
    expect(calls.fetch).toBe(2);
    expect(rerun.eventIds).toHaveLength(1);
    expect(rerun.eventIds[0]).not.toBe(original.eventIds[0]);
    const edited = await engine.store.getEvent(rerun.eventIds[0] as string);
    expect(edited).toMatchObject({ name: "rr/order", data: { order: "o-2b", qty: 3 } });
    expect((await engine.store.getEvent(original.eventIds[0] as string))?.data).toEqual({ order: "o-2" });
    expect((await engine.listRuns({ functionId: "rr-audit" })).length).toBe(auditsBefore);
  });

  it("refuses a step the run does not have, naming the field and the steps it has", async () => {
    const { client, fns } = pipeline();
    const { engine } = await startEngine({ client, functions: fns });
    const original = await failedRun(engine, client, { order: "o-3" });
    await expect(engine.rerun(original.id, { fromStep: "nope" })).rejects.toThrow(/from_step: run \S+ has no step "nope" \(its steps: "fetch", "charge"\)/);
    expect((await engine.listRuns({ functionId: "rr-pipeline" })).length).toBe(1);
  });
});

describe("bulk replay", () => {
  it("replays the Failed runs of a function in a time range, in background batches, with progress, once each", async () => {
    const { client, fns, fix } = pipeline();
    const { engine } = await startEngine({ client, functions: fns, replayBatchSize: 3 });
    const early = await failedRun(engine, client, { order: "early" });
    await new Promise((r) => setTimeout(r, 5));
    const from = Date.now();
    const inRange: string[] = [];
    for (let i = 0; i < 7; i++) inRange.push((await failedRun(engine, client, { order: `o-${i}` })).id);
    fix();
    const ok = await engine.waitForRun((await runsOf(engine, (await client.send({ name: "rr/order", data: { order: "fine" } })).ids[0]))[0]!.id);
    const job = await engine.startReplay({ functionId: "rr-pipeline", statuses: ["Failed"], from });
    expect(job).toMatchObject({ state: "running", total: 7, done: 0, functionId: "rr-pipeline" });
    await engine.replaySettled(job.id);
    expect(await engine.getReplay(job.id)).toMatchObject({ state: "completed", total: 7, done: 7 });
    const reruns = (await engine.listRuns({ functionId: "rr-pipeline", limit: 100 })).filter((r) => r.rerunOf);
    expect(reruns.map((r) => r.rerunOf).sort()).toEqual([...inRange].sort());
    expect(reruns.map((r) => r.rerunOf)).not.toContain(early.id);
    expect(reruns.map((r) => r.rerunOf)).not.toContain(ok.id);
    for (const r of reruns) expect((await engine.waitForRun(r.id, { timeoutMs: 10_000 })).status).toBe("Completed");
    expect((await engine.listReplays()).map((j) => j.id)).toContain(job.id);
  });

  it("resumes after a crash between a batch and its progress write, on two restarted nodes at once, replaying no run twice", async () => {
    const database = join(tempDir(), "replay.db");
    const first = pipeline();
    // short leases: calls this process had claimed when it stopped are taken over soon after
    const { engine } = await startEngine({ database, client: first.client, functions: first.fns, replayBatchSize: 2, leaseMs: 500 });
    const originals: string[] = [];
    for (let i = 0; i < 5; i++) originals.push((await failedRun(engine, first.client, { order: `c-${i}` })).id);
    // the process "dies" right after writing the first batch: its progress write fails
    const save = engine.store.saveReplayJob.bind(engine.store);
    let crashed = false;
    engine.store.saveReplayJob = async (job) => {
      if (job.done > 0 && !crashed) {
        crashed = true;
        throw new Error("process died");
      }
      return save(job);
    };
    const job = await engine.startReplay({ functionId: "rr-pipeline" });
    await engine.replaySettled(job.id);
    expect(crashed).toBe(true);
    const stuck = await engine.getReplay(job.id);
    expect(stuck).toMatchObject({ state: "running", done: 0 });
    expect((await engine.listRuns({ functionId: "rr-pipeline", limit: 100 })).filter((r) => r.rerunOf)).toHaveLength(2);
    await engine.close();

    // two new processes on the same database both pick the job up by themselves
    const second = pipeline();
    second.fix();
    const third = pipeline();
    third.fix();
    const [{ engine: restarted }] = await Promise.all([
      startEngine({ database, client: second.client, functions: second.fns, replayBatchSize: 2 }),
      startEngine({ database, client: third.client, functions: third.fns, replayBatchSize: 2 }),
    ]);
    const done = await pollUntil(
      () => restarted.getReplay(job.id),
      (j) => j?.state === "completed",
      10_000,
    );
    expect(done).toMatchObject({ state: "completed", total: 5, done: 5 });
    const reruns = (await restarted.listRuns({ functionId: "rr-pipeline", limit: 100 })).filter((r) => r.rerunOf);
    expect(reruns.map((r) => r.rerunOf).sort()).toEqual([...originals].sort());
    for (const r of reruns) expect((await restarted.waitForRun(r.id, { timeoutMs: 10_000 })).status).toBe("Completed");
  });

  it("a replay with nothing to do is completed at once; an unknown function is refused", async () => {
    const { client, fns } = pipeline();
    const { engine } = await startEngine({ client, functions: fns });
    expect(await engine.startReplay({ functionId: "rr-pipeline" })).toMatchObject({ state: "completed", total: 0, done: 0 });
    await expect(engine.startReplay({ functionId: "rr-missing" })).rejects.toThrow(/no function "rr-missing"/);
  });
});
