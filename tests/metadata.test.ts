/**
 * Event meta and sessions, step metadata, run metadata and scores with our SDK: in-process
 * (on the real SQLite file, or Postgres with STEPWISE_TEST_STORE=postgres) and served by
 * `serve()` against a Stepwise dev server.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { type Engine, foldRunMetadata } from "@stepwise/engine";
import { Stepwise, silentLogger } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, describe, expect, it } from "vitest";
import { runsOf, startEngine, until } from "./helpers.ts";

function defineFunctions(c: Stepwise, seen: Record<string, unknown>) {
  const invoked = c.createFunction({ id: "invoked" }, async ({ sessions }) => sessions ?? null);
  return [
    invoked,
    c.createFunction({ id: "parent" }, { event: "meta/parent" }, async ({ sessions, step }) => {
      await step.sendEvent("forward", [
        { name: "meta/child", data: { tag: "inherits" } },
        { name: "meta/child", data: { tag: "overrides" }, meta: { sessions: { chat: null, topic: "t9" } } },
      ]);
      const fromInvoke = await step.invoke("ask-invoked", { function: invoked });
      await step.run("bare-send", () => c.send({ name: "meta/child", data: { tag: "bare" } }));
      return { sessions: sessions ?? null, fromInvoke };
    }),
    c.createFunction({ id: "child" }, { event: "meta/child" }, async ({ event, sessions }) => {
      seen[String(event.data.tag)] = sessions ?? null;
      return sessions ?? null;
    }),
    c.createFunction({ id: "scored", retries: 1 }, { event: "meta/scored" }, async ({ step, attempt }) => {
      const answer = await step.run("ask", async () => {
        await c.metadata.set({ model: "m-1", attempt });
        await c.score({ name: "latency-ok", value: true });
        if (attempt === 0) throw new Error("first attempt fails");
        return "42";
      });
      await step.score("rate", { name: "quality", value: 0.75 });
      await step.metadata("note").update({ reviewed: true });
      return answer;
    }),
  ];
}

async function scenario(engine: Engine, c: Stepwise, seen: Record<string, unknown>) {
  // sessions: carried into the run, the events it sends and the run it invokes
  const { ids } = await c.send({ name: "meta/parent", data: {}, meta: { sessions: { chat: "c1", user: 7 } } });
  const [parent] = await runsOf(engine, ids[0]);
  const done = await engine.waitForRun(parent!.id, { timeoutMs: 20_000 });
  expect(done).toMatchObject({ status: "Completed", output: { sessions: { chat: "c1", user: "7" }, fromInvoke: { chat: "c1", user: "7" } } });
  expect((await engine.store.getEvent(ids[0]!))?.meta).toEqual({ sessions: { chat: "c1", user: 7 } });
  await until(() => seen.inherits !== undefined && seen.overrides !== undefined && seen.bare !== undefined);
  expect(seen.inherits).toEqual({ chat: "c1", user: "7" });
  expect(seen.bare).toEqual({ chat: "c1", user: "7" });
  expect(seen.overrides).toEqual({ topic: "t9", user: "7" });

  // metadata and scores: the retried step keeps what its successful attempt wrote
  const sent = await c.send({ name: "meta/scored", data: {} });
  const [run] = await runsOf(engine, sent.ids[0]);
  const scored = await engine.waitForRun(run!.id, { timeoutMs: 20_000 });
  expect(scored.status).toBe("Completed");
  const ask = scored.steps.find((s) => s.name === "ask");
  expect(ask?.metadata).toEqual([
    { kind: "userland.default", scope: "step", op: "set", values: { model: "m-1", attempt: 1 } },
    { kind: "inngest.score", scope: "run", op: "merge", values: { "latency-ok": { value: true } } },
  ]);
  expect(scored.metadata?.scores).toEqual({ "latency-ok": true, quality: 0.75 });
  expect(scored.metadata?.run["userland.default"]).toEqual({ reviewed: true });
  expect(scored.metadata?.steps.ask).toEqual({ "userland.default": { model: "m-1", attempt: 1 } });

  // outside a run: scores written at once, the later one winning
  await c.score({ runId: run!.id, name: "quality", value: 0.25 });
  await c.metadata.run(run!.id).step("ask").set({ note: "checked" }, "review");
  const after = await engine.runMetadata(run!.id);
  expect(after?.scores).toEqual({ "latency-ok": true, quality: 0.25 });
  expect(after?.steps.ask?.["userland.review"]).toEqual({ note: "checked" });
  await expect(c.score({ runId: "01NOSUCHRUN0000000000000000", name: "q", value: 1 })).rejects.toThrow(/no run with id|404/);
  await expect(c.score({ runId: run!.id, name: "q", value: Number.NaN })).rejects.toThrow(/"value"/);
  await expect(c.score({ name: "q", value: 1 })).rejects.toThrow(/runId/);
}

describe("metadata and sessions in-process", () => {
  it("carries sessions, stores step metadata, run metadata and scores", async () => {
    const c = new Stepwise({ id: "meta", logger: silentLogger });
    const seen: Record<string, unknown> = {};
    const { engine } = await startEngine({ client: c, functions: defineFunctions(c, seen) });
    await scenario(engine, c, seen);
  }, 30_000);

  it("refuses bad meta naming the field, storing nothing", async () => {
    const c = new Stepwise({ id: "meta-bad", logger: silentLogger });
    const { engine } = await startEngine({ client: c });
    await expect(c.send({ name: "meta/bad", meta: { sessions: { chat: { id: 1 } } } } as never)).rejects.toThrow(/meta\.sessions\.chat/);
    await expect(c.send({ name: "meta/bad", meta: [] } as never)).rejects.toThrow(/"meta" must be an object/);
    expect(await engine.store.listEvents({ name: "meta/bad", limit: 5 })).toEqual([]);
  });

  it("folds run metadata in write order: set replaces, merge merges", () => {
    const m = foldRunMetadata(
      [
        {
          runId: "r",
          id: "h",
          name: "s",
          op: "StepRun",
          status: "Completed",
          attempts: 1,
          endedAt: 10,
          metadata: [{ kind: "k", scope: "run", op: "set", values: { a: 1, b: 1 } }],
        },
      ],
      [
        { runId: "r", target: { run_id: "r" }, updates: [{ kind: "k", op: "merge", values: { b: 2 } }], createdAt: 20 },
        { runId: "r", target: { run_id: "r" }, updates: [{ kind: "k", op: "set", values: { c: 3 } }], createdAt: 5 },
      ],
    );
    expect(m.run.k).toEqual({ a: 1, b: 2 });
  });
});

describe("metadata and sessions served by our SDK", () => {
  let stepwise: RunningServer | undefined;
  let app: Server | undefined;
  afterAll(async () => {
    await stepwise?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it("the same, with the client posting /v1/runs/:id/metadata and sessions in the call request", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const c = new Stepwise({ id: "meta-served", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
    const seen: Record<string, unknown> = {};
    app = createServer(serve({ client: c, functions: defineFunctions(c, seen) }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    expect((await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`)).error).toBeUndefined();
    await scenario(stepwise.engine, c, seen);
  }, 30_000);
});
