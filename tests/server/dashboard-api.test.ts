/**
 * The dashboard's endpoints: functions, invoke, pause/resume, rerun, bulk cancel and
 * replay, event outcomes, run paging and the live stream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Stepwise } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

async function setup(mode: "dev" | "start" = "dev") {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-dash-"));
  const store = new SqliteStore({ filename: join(dir, "d.db") });
  await store.migrate();
  const engine: Engine = createEngine({ store, logger: silentLogger, retryDelayScale: 0.01 });
  const client = new Stepwise({ id: "d", logger: silentLogger });
  let flaky = true;
  const fns = [
    client.createFunction({ id: "echo" }, { event: "d/echo" }, async ({ event }) => event.data),
    client.createFunction({ id: "flaky", retries: 0 }, { event: "d/flaky" }, async () => {
      if (flaky) throw new Error("first time fails");
      return "fixed";
    }),
    client.createFunction({ id: "sleeper" }, { event: "d/sleep" }, async ({ step }) => step.sleep("long", "1h")),
  ];
  engine.register({ client, functions: fns });
  await engine.start();
  cleanup.push(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const server = createServer({
    engine,
    logger: silentLogger,
    mode,
    ...(mode === "start" ? { signingKey: "signkey-test-00aa", eventKey: "ek", dashboardToken: "let-me-in" } : {}),
  });
  const json = async (path: string, init?: RequestInit) => {
    const res = await server.app.request(path, init);
    // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes
    return { status: res.status, body: (await res.json()) as { data: any; ids: string[]; error?: string; cursor?: string } };
  };
  const post = (body: unknown = {}) => ({ method: "POST", body: JSON.stringify(body) });
  return { engine, server, json, post, fix: () => (flaky = false) };
}

describe("dashboard API", () => {
  it("lists functions with config, pause state and counts; invokes; pauses and resumes", async () => {
    const { json, post, engine } = await setup();
    const invoked = await json("/v1/functions/d-echo/invoke", post({ data: { hello: 1 } }));
    const run = await engine.waitForRun(invoked.body.data.run_id);
    expect(run.output).toEqual({ hello: 1 });
    const fns = await json("/v1/functions");
    const echo = fns.body.data.find((f: { id: string }) => f.id === "d-echo");
    expect(echo).toMatchObject({ id: "d-echo", name: "echo", triggers: [{ event: "d/echo" }], paused: false, last_24h: { Completed: 1 } });
    expect((await json("/v1/functions/d-nope/invoke", post())).status).toBe(404);
    expect((await json("/v1/functions/d-echo/invoke", post({ data: [1] }))).body.error).toMatch(/data: expected an object/);
    await json("/v1/functions/d-echo/pause", post());
    const sent = await json("/e/x", post({ name: "d/echo" }));
    const paused = await json(`/v1/events/${sent.body.ids[0]}`);
    expect(paused.body.data).toMatchObject({ runs: [], outcome: "every matching function is paused" });
    await json("/v1/functions/d-echo/resume", post());
    const again = await json("/e/x", post({ name: "d/echo" }));
    expect((await engine.listRuns({ eventId: again.body.ids[0] as string })).length).toBe(1);
  });

  it("explains events that started nothing", async () => {
    const { json, post } = await setup();
    const none = await json("/e/x", post({ name: "d/unknown" }));
    expect((await json(`/v1/events/${none.body.ids[0]}`)).body.data.outcome).toBe("no function triggers on this event name");
    await json("/e/x", post({ name: "d/echo", id: "same" }));
    const dup = await json("/e/x", post({ name: "d/echo", id: "same" }));
    expect((await json(`/v1/events/${dup.body.ids[0]}`)).body.data).toMatchObject({
      duplicate: true,
      outcome: expect.stringMatching(/^deduplicated/),
    });
  });

  it("reruns a run, and bulk-replays failed runs once the cause is fixed", async () => {
    const { json, post, engine, fix } = await setup();
    const sent = await json("/e/x", post([{ name: "d/flaky" }, { name: "d/flaky" }]));
    const ids = sent.body.ids;
    const failed = await Promise.all(ids.map(async (id) => engine.waitForRun((await engine.listRuns({ eventId: id }))[0]!.id)));
    expect(failed.map((r) => r.status)).toEqual(["Failed", "Failed"]);
    fix();
    const rerun = await json(`/v1/runs/${failed[0]!.id}/rerun`, post());
    expect((await engine.waitForRun(rerun.body.data.run_id)).output).toBe("fixed");
    const replay = await json("/v1/runs/replay", post({ function_id: "d-flaky", status: "Failed" }));
    expect(replay.body.data.run_ids).toHaveLength(2);
    for (const id of replay.body.data.run_ids) expect((await engine.waitForRun(id)).status).toBe("Completed");
    expect((await json("/v1/runs/replay", post({}))).body.error).toBe("function_id is required");
  });

  it("bulk-cancels runs by function and time range, and pages the run list", async () => {
    const { json, post, engine } = await setup();
    await json("/e/x", post(Array.from({ length: 5 }, () => ({ name: "d/sleep" }))));
    for (let i = 0; i < 200 && (await engine.listRuns({ status: "Queued" })).length; i++) await new Promise((r) => setTimeout(r, 10));
    const page1 = await json("/v1/runs?function_id=d-sleeper&limit=3");
    expect(page1.body.data).toHaveLength(3);
    const page2 = await json(`/v1/runs?function_id=d-sleeper&limit=3&cursor=${page1.body.cursor}`);
    expect(page2.body.data).toHaveLength(2);
    expect(await json(`/v1/runs?function_id=d-sleeper&to=${Date.now() - 60_000}`)).toMatchObject({ body: { data: [] } });
    const cancelled = await json("/v1/runs/cancel", post({ function_id: "d-sleeper", from: new Date(Date.now() - 60_000).toISOString() }));
    expect(cancelled.body.data.cancelled).toBe(5);
    expect((await engine.listRuns({ functionId: "d-sleeper", status: "Cancelled" })).length).toBe(5);
  });

  it("streams activity as server-sent events", async () => {
    const { server, post, json } = await setup();
    const res = await server.app.request("/v1/stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    text += decoder.decode((await reader.read()).value);
    expect(text).toMatch(/event: ready/);
    await json("/e/x", post({ name: "d/echo" }));
    const deadline = Date.now() + 5_000;
    while (!/run\.ended/.test(text) && Date.now() < deadline) text += decoder.decode((await reader.read()).value);
    expect(text).toMatch(/"kind":"event"/);
    expect(text).toMatch(/"kind":"run\.ended"/);
    await reader.cancel();
  });

  it("start mode: the dashboard token opens /v1", async () => {
    const { json } = await setup("start");
    expect((await json("/v1/functions")).status).toBe(401);
    expect((await json("/v1/functions", { headers: { authorization: "Bearer let-me-in" } })).status).toBe(200);
  });
});
