/**
 * Cancellation stops running steps, in-process: a `cancelOn` match, a bulk cancel
 * (`engine.cancelRuns` and the REST API's `POST /v1/runs/cancel`) and a cancel made on
 * another node abort the `AbortSignal` a running `step.run` received; the step's result
 * is discarded and the run ends Cancelled.
 */
import { join } from "node:path";
import { silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { Stepwise } from "stepwise";
import { describe, expect, it } from "vitest";
import { runsOf, startEngine, tempDir, until } from "./helpers.ts";

/** A function whose step runs until its signal aborts, then returns (a result that must be discarded). */
function blocking(c: Stepwise, id: string, event: string, extra: Record<string, unknown> = {}) {
  const state = { started: new Set<string>(), reasons: new Map<string, string>(), after: 0 };
  const fn = c.createFunction({ id, retries: 0, ...extra }, { event }, async ({ event: e, step }) => {
    await step.run("block", async (signal) => {
      state.started.add(String(e.data.k));
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      state.reasons.set(String(e.data.k), (signal.reason as Error).name);
      return "finished after abort";
    });
    state.after++;
    return "not cancelled";
  });
  return { fn, state };
}

async function expectCancelledWithoutResult(engine: Awaited<ReturnType<typeof startEngine>>["engine"], runId: string) {
  const run = await engine.waitForRun(runId, { timeoutMs: 10_000 });
  expect(run.status).toBe("Cancelled");
  expect(run.steps.some((s) => s.name === "block" && s.status === "Completed")).toBe(false);
  return run;
}

describe("cancellation aborts running steps", () => {
  it("a cancelOn match aborts the running step at once", async () => {
    const c = new Stepwise({ id: "cr", logger: silentLogger });
    const { fn, state } = blocking(c, "on-cancel", "cr/start", { cancelOn: [{ event: "cr/stop", match: "data.k" }] });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send([
      { name: "cr/start", data: { k: "a" } },
      { name: "cr/start", data: { k: "b" } },
    ]);
    await until(() => state.started.size === 2);
    const started = Date.now();
    await c.send({ name: "cr/stop", data: { k: "a" } });
    await until(() => state.reasons.has("a"));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(state.reasons.get("a")).toBe("RunCancelledError");
    const [a] = await runsOf(engine, ids[0]);
    await expectCancelledWithoutResult(engine, a?.id as string);
    // only the matching run was cancelled: the other step still runs
    expect(state.reasons.has("b")).toBe(false);
    expect(state.after).toBe(0);
    await c.send({ name: "cr/stop", data: { k: "b" } });
    await until(() => state.reasons.has("b"));
  });

  it("a bulk cancel (engine.cancelRuns and POST /v1/runs/cancel) aborts every matching run's running step", async () => {
    const c = new Stepwise({ id: "cr", logger: silentLogger });
    const one = blocking(c, "bulk-one", "cr/one");
    const two = blocking(c, "bulk-two", "cr/two");
    const { engine } = await startEngine({ client: c, functions: [one.fn, two.fn] });
    const server = createServer({ engine, logger: silentLogger, mode: "dev" });
    const sent = await c.send([
      { name: "cr/one", data: { k: "1" } },
      { name: "cr/one", data: { k: "2" } },
      { name: "cr/two", data: { k: "3" } },
    ]);
    await until(() => one.state.started.size === 2 && two.state.started.size === 1);
    expect(await engine.cancelRuns({ functionId: "cr-bulk-one" })).toBe(2);
    await until(() => one.state.reasons.size === 2);
    expect([...one.state.reasons.values()]).toEqual(["RunCancelledError", "RunCancelledError"]);
    expect(two.state.reasons.size).toBe(0);
    const response = await server.app.request("/v1/runs/cancel", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ function_id: "cr-bulk-two" }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { cancelled: number } }).data.cancelled).toBe(1);
    await until(() => two.state.reasons.size === 1);
    expect(two.state.reasons.get("3")).toBe("RunCancelledError");
    for (const id of sent.ids) {
      const [run] = await runsOf(engine, id);
      await expectCancelledWithoutResult(engine, run?.id as string);
    }
    expect(one.state.after + two.state.after).toBe(0);
  });

  it("a cancel made on another node aborts the step running on this one", async () => {
    const database = join(tempDir(), "two-nodes.db");
    const runner = new Stepwise({ id: "cr", logger: silentLogger });
    const { fn, state } = blocking(runner, "remote", "cr/remote");
    // the running node; the other node has the function registered but takes no work
    const { engine: node } = await startEngine({ database, client: runner, functions: [fn], leaseMs: 600 });
    const { ids } = await runner.send({ name: "cr/remote", data: { k: "r" } });
    await until(() => state.started.size === 1);
    const other = await startEngine({ database, client: new Stepwise({ id: "cr", logger: silentLogger }), functions: [], concurrency: 1 });
    const [run] = await runsOf(node, ids[0]);
    const cancelledAt = Date.now();
    await other.engine.cancelRun(run?.id as string);
    await until(() => state.reasons.has("r"));
    // the running node notices within a lease heartbeat (leaseMs / 3)
    expect(Date.now() - cancelledAt).toBeLessThan(3_000);
    expect(state.reasons.get("r")).toBe("RunCancelledError");
    await expectCancelledWithoutResult(node, run?.id as string);
    expect(state.after).toBe(0);
  });
});
