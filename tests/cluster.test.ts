/**
 * Two engines (and two servers) on one database, as two nodes (here two connections to one
 * SQLite file): what one node decides or learns, the other sees.
 */
import { createServer as createHttpServer } from "node:http";
import { join } from "node:path";
import { runServer } from "@stepwise/cli";
import { createServer as createStepwiseServer } from "@stepwise/server";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine } from "stepwise/engine";
import { serve } from "stepwise/node";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir, until } from "./helpers.ts";

const engines: Engine[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  for (const db of databases.splice(0)) await db.drop();
});

/** A fresh database for both nodes: a SQLite file, or a Postgres database of its own. */
async function sharedDatabase(store: string, file: string): Promise<string> {
  if (store === "SQLite file") return join(tempDir(), file);
  const db = await createTestDatabase();
  databases.push(db);
  return db.url;
}

const stores = [{ store: "SQLite file" }, { store: "Postgres" }];

async function node(database: string) {
  const client = new Stepwise({ id: "cl", logger: silentLogger });
  const fn = client.createFunction({ id: "job" }, { event: "cl/job" }, async () => "done");
  // functions whose flow control the two nodes must decide together
  const done = async () => "done";
  const controlled = [
    client.createFunction({ id: "rate", rateLimit: { limit: 3, period: "1h" } }, { event: "cl/rate" }, done),
    client.createFunction({ id: "idem", idempotency: "event.data.key" }, { event: "cl/idem" }, done),
    client.createFunction({ id: "debounce", debounce: { period: "1h" } }, { event: "cl/debounce" }, done),
    client.createFunction({ id: "batch", batchEvents: { maxSize: 5, timeout: "60s" } }, { event: "cl/batch" }, done),
    client.createFunction({ id: "throttle", throttle: { limit: 2, period: "1h" } }, { event: "cl/throttle" }, done),
    client.createFunction({ id: "single", singleton: { key: "event.data.key", mode: "skip" } }, { event: "cl/single" }, async ({ step }) => {
      await step.sleep("hold", "1h");
    }),
  ];
  const engine = await createEngine({ database, logger: silentLogger, pollMs: 20 });
  engine.register({ client, functions: [fn, ...controlled] });
  await engine.start();
  engines.push(engine);
  return { engine, client };
}

describe.each(stores)("two nodes on one database ($store)", ({ store }) => {
  it("a function paused on one node starts no runs from events sent to the other, and resumes everywhere", async () => {
    const database = await sharedDatabase(store, "cluster.db");
    const a = await node(database);
    const b = await node(database);
    await a.engine.pause("cl-job");
    const held = await b.client.send({ name: "cl/job" });
    // the send has committed: the run it would have started does not exist
    expect(await b.engine.listRuns({ eventId: held.ids[0] })).toEqual([]);
    expect(await b.engine.pausedFunctions()).toEqual(new Set(["cl-job"]));
    expect(await b.engine.eventOutcome((await b.engine.store.getEvent(held.ids[0]!))!)).toBe("every matching function is paused");
    // an invoke still starts a run of the paused function
    const invoked = await b.engine.invoke("cl-job");
    expect((await b.engine.waitForRun(invoked.runId, { timeoutMs: 5_000 })).status).toBe("Completed");

    await a.engine.resume("cl-job");
    const sent = await b.client.send({ name: "cl/job" });
    const [run] = await b.engine.listRuns({ eventId: sent.ids[0] });
    expect((await b.engine.waitForRun(run!.id, { timeoutMs: 5_000 })).output).toBe("done");
  });
});

describe.each(stores)("flow control across two nodes ($store)", ({ store }) => {
  it("rate limit, idempotency, debounce, batch, throttle and singleton hold for events sent to both nodes at once", async () => {
    const database = await sharedDatabase(store, "flow.db");
    const [a, b] = [await node(database), await node(database)];
    const both = (name: string, count: number, data: (i: number) => Record<string, unknown> = () => ({})) =>
      Promise.all(Array.from({ length: count }, (_, i) => (i % 2 ? a : b).client.send({ name, data: data(i) })));
    await Promise.all([
      both("cl/rate", 10),
      both("cl/idem", 10, () => ({ key: "same" })),
      both("cl/debounce", 10),
      both("cl/batch", 10),
      both("cl/throttle", 6),
    ]);
    await both("cl/single", 6, () => ({ key: "same" }));
    const runs = async (id: string) => a.engine.listRuns({ functionId: `cl-${id}`, limit: 100 });
    const notSkipped = async (id: string) => (await runs(id)).filter((r) => r.status !== "Skipped");
    // every send has committed; the runs each rule allows exist and no more
    expect(await notSkipped("rate")).toHaveLength(3);
    expect(await runs("idem")).toHaveLength(1);
    expect(await runs("debounce")).toHaveLength(1);
    expect((await runs("batch")).map((r) => r.eventIds.length).sort()).toEqual([5, 5]);
    // throttle 2/h (GCRA, no burst): one start now, the next spaced 30 min apart
    await until(async () => (await runs("throttle")).filter((r) => r.status === "Completed").length === 1, 5_000);
    const throttled = await runs("throttle");
    expect(throttled.filter((r) => r.status === "Completed")).toHaveLength(1);
    expect(throttled.filter((r) => r.status === "Queued" && r.waitingOn?.kind === "throttle")).toHaveLength(5);
    expect(await notSkipped("single")).toHaveLength(1);
  });
});

describe.each(stores)("two stepwise servers on one database ($store)", ({ store }) => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it("an app synced through one node is called by the other, which an event reaches", async () => {
    const db = await sharedDatabase(store, "servers.db");
    const a = await runServer({ mode: "dev", port: 0, db, logRuns: false, logger: silentLogger, appsRefreshMs: 50 });
    closers.push(() => a.close());
    const b = await runServer({ mode: "dev", port: 0, db, logRuns: false, logger: silentLogger, appsRefreshMs: 50 });
    closers.push(() => b.close());
    const client = new Stepwise({ id: "served", isDev: true, baseUrl: b.url, logger: silentLogger });
    const calledBy: string[] = [];
    const fn = client.createFunction({ id: "echo" }, { event: "served/echo" }, async ({ event, step }) => step.run("echo", () => event.data.n));
    const app = createHttpServer(serve({ client, functions: [fn] }));
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
    closers.push(() => new Promise((resolve) => app.close(() => resolve())));
    const url = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;
    app.prependListener("request", (req) => calledBy.push(String(req.method)));

    expect((await a.server.apps.sync(url)).functionIds).toEqual(["served-echo"]);
    // node b has never talked to the app: it learns of it from the store
    await until(() => b.engine.functions().some((f) => f.config.id === "served-echo"));
    const { ids } = await client.send({ name: "served/echo", data: { n: 7 } });
    const [run] = await b.engine.listRuns({ eventId: ids[0] });
    expect(run?.functionId).toBe("served-echo");
    const ended = await b.engine.waitForRun(run!.id, { timeoutMs: 10_000 });
    expect(ended).toMatchObject({ status: "Completed", output: 7 });
    expect(calledBy.filter((m) => m === "POST").length).toBeGreaterThanOrEqual(1);
  });
});

describe.each(stores)("the live stream across nodes ($store)", ({ store }) => {
  it("a dashboard on one node sees a run that another node started and finished", async () => {
    const database = await sharedDatabase(store, "stream.db");
    // node a serves the dashboard and executes nothing (never started), so whatever its stream shows came from b
    const a = await createEngine({ database, logger: silentLogger });
    engines.push(a);
    const b = await node(database);
    const { app } = createStepwiseServer({ engine: a, mode: "dev", logger: silentLogger, clusterPollMs: 50 });
    const response = await app.fetch(new Request("http://127.0.0.1/v1/stream"));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const seen: string[] = [];
    const read = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        seen.push(decoder.decode(value));
      }
    })();
    await until(() => seen.join("").includes("event: ready"));
    const { ids } = await b.client.send({ name: "cl/job" });
    const [run] = await b.engine.listRuns({ eventId: ids[0] });
    await b.engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    await until(() => seen.join("").includes(`"runId":"${run!.id}","status":"Completed"`), 5_000);
    await reader.cancel();
    await read;
    expect(seen.join("")).toContain(`"kind":"run.changed","runId":"${run!.id}","status":"Completed"`);
  });
});
