/**
 * `createEngine` on a Postgres URL: the store it picks, wake-ups between processes over
 * LISTEN/NOTIFY, `migrate: false`, and option errors.
 */
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine, PostgresStore, SqliteStore } from "stepwise/engine";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

const databases: TestDatabase[] = [];
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});
afterAll(async () => {
  for (const db of databases) await db.drop();
});

async function database(empty = false) {
  const db = await createTestDatabase({ empty });
  databases.push(db);
  return db.url;
}

function app() {
  const client = new Stepwise({ id: "pg", logger: silentLogger });
  const fn = client.createFunction({ id: "hello" }, { event: "pg/hello" }, async ({ step, event }) => step.run("greet", () => `hi ${event.data.name}`));
  return { client, fn };
}

describe("createEngine on Postgres", () => {
  it("a postgres:// URL opens the Postgres store (migrating it); a path stays SQLite", async () => {
    const url = await database(true);
    const { client, fn } = app();
    const engine = await createEngine({ database: url.replace(/^postgres:/, "postgresql:"), logger: silentLogger, retryDelayScale: 0.01 });
    engines.push(engine);
    expect(engine.store).toBeInstanceOf(PostgresStore);
    engine.register({ client, functions: [fn] });
    await engine.start();
    const { ids } = await client.send({ name: "pg/hello", data: { name: "ada" } });
    const [run] = await engine.listRuns({ eventId: ids[0] });
    expect((await engine.waitForRun(run!.id, { timeoutMs: 10_000 })).output).toBe("hi ada");

    const local = await createEngine({ database: `${tempDir()}/x.db`, logger: silentLogger });
    engines.push(local);
    expect(local.store).toBeInstanceOf(SqliteStore);
  });

  it("a commit on one process wakes another's workers at once (LISTEN/NOTIFY), not at its next poll", async () => {
    const url = await database();
    // the worker: polls only once a minute, so only a notification can start the run in time
    const worker = app();
    const b = await createEngine({ database: url, logger: silentLogger, pollMs: 60_000 });
    engines.push(b);
    b.register({ client: worker.client, functions: [worker.fn] });
    await b.start();
    // the sender: never started, so it runs nothing itself
    const sender = app();
    const a = await createEngine({ database: url, logger: silentLogger });
    engines.push(a);
    a.register({ client: sender.client, functions: [sender.fn] });
    const started = Date.now();
    const { ids } = await sender.client.send({ name: "pg/hello", data: { name: "bob" } });
    const [run] = await a.listRuns({ eventId: ids[0] });
    const done = await a.waitForRun(run!.id, { timeoutMs: 20_000 });
    expect(done.output).toBe("hi bob");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("migrate: false opens a current schema and refuses an out-of-date one, naming the fix and hiding the password", async () => {
    const current = await database();
    const ok = await createEngine({ database: current, migrate: false, logger: silentLogger });
    engines.push(ok);
    const empty = new URL(await database(true));
    empty.password = "s3cr3t-pw";
    const error = (await createEngine({ database: empty.toString(), migrate: false, logger: silentLogger }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(error.message).toMatch(
      /schema is not current \(pending: 0001_init\.sql, 0002_request_version_and_apps\.sql, 0003_run_trace_context\.sql, 0004_metadata\.sql, 0005_retention\.sql, 0006_connect_connections\.sql, 0007_parent_run\.sql, 0008_dashboard_reruns_and_replay_jobs\.sql, 0009_run_parallel\.sql\); run `stepwise migrate --db <url>`/,
    );
    expect(`${error.message}${error.stack}`).not.toContain("s3cr3t-pw");
  });

  it("rejects options that do not fit the database with a typed error naming the field", async () => {
    await expect(createEngine({ database: ":memory:", migrate: false })).rejects.toThrow(/^migrate: false needs a Postgres database/);
    await expect(createEngine({ database: ":memory:", poolSize: 4 })).rejects.toThrow(/^poolSize: applies to a Postgres database only/);
    await expect(createEngine({ database: "postgres://h/db", poolSize: 0 })).rejects.toThrow(/^poolSize: expected a positive integer/);
  });
});
