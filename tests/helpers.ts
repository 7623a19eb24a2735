import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventMeta } from "@stepwise/protocol";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine, type EngineOptions } from "stepwise/engine";
import { afterAll, afterEach } from "vitest";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A temp directory removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-test-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The store the engine tests run on: `STEPWISE_TEST_STORE=postgres` runs them on Postgres
 * (a database per SQLite path a test names, so a test that reopens its file reopens its
 * database), anything else on SQLite.
 */
const testStore = process.env.STEPWISE_TEST_STORE ?? "sqlite";
if (testStore !== "sqlite" && testStore !== "postgres")
  throw new Error(`STEPWISE_TEST_STORE: expected "sqlite" or "postgres", received ${JSON.stringify(testStore)}`);
const postgresDatabases = new Map<string, Promise<TestDatabase>>();
afterAll(async () => {
  for (const db of postgresDatabases.values()) await (await db).drop();
  postgresDatabases.clear();
});

/** The database an engine of this test opens for `path`: the path itself, or its Postgres stand-in. */
export async function testDatabase(path: string): Promise<string> {
  if (testStore !== "postgres" || path.startsWith("postgres")) return path;
  const key = path === ":memory:" ? `:memory:${postgresDatabases.size}` : path;
  let db = postgresDatabases.get(key);
  if (!db) postgresDatabases.set(key, (db = createTestDatabase()));
  return (await db).url;
}

/** A started engine on a real SQLite file (or Postgres database, see `testStore`), closed after the test. */
export async function startEngine(
  options: { database?: string; client?: Stepwise; functions?: Parameters<Engine["register"]>[0]["functions"] } & Partial<Omit<EngineOptions, "store">> = {},
) {
  const database = await testDatabase(options.database ?? join(tempDir(), "stepwise.db"));
  const client = options.client ?? new Stepwise({ id: "test", logger: silentLogger });
  const { functions = [], database: _d, client: _c, ...rest } = options;
  const engine = await createEngine({ database, retryDelayScale: 0.005, logger: silentLogger, ...rest });
  engine.register({ client, functions });
  await engine.start();
  cleanups.push(() => engine.close());
  return { engine, client, database };
}

/** The runs an event started. */
export async function runsOf(engine: Engine, eventId: string | undefined) {
  if (!eventId) throw new Error("no event id");
  return engine.listRuns({ eventId });
}

/** Sends one event and waits for the single run it starts to end. */
export async function sendAndWait(
  engine: Engine,
  client: Stepwise,
  event: { name: string; data?: Record<string, unknown>; meta?: EventMeta },
  timeoutMs = 10_000,
) {
  const { ids } = await client.send(event);
  const runs = await runsOf(engine, ids[0]);
  if (runs.length !== 1) throw new Error(`expected 1 run for ${event.name}, found ${runs.length}`);
  return engine.waitForRun(runs[0]!.id, { timeoutMs });
}

/** Polls `probe` until `ok` holds or `timeoutMs` passes; returns the last value (assert on it). */
export async function pollUntil<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until `check` is true or `timeoutMs` passes (assert afterwards). */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}
