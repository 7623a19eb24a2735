import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { listMigrations, pendingMigrations } from "./migrate.ts";
import { PostgresStore } from "./postgres-store.ts";
import { databaseUrl, testServerUrl } from "./testing.ts";

/** Empty databases (not from the template: these tests migrate them), dropped after the file. */
const created: string[] = [];
const admin = new pg.Pool({ connectionString: testServerUrl(), max: 1 });
async function emptyDatabase(): Promise<string> {
  const name = `stepwise_migrate_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  return databaseUrl(testServerUrl(), name);
}
afterAll(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});
const connect = (url: string) => new pg.Pool({ connectionString: url, max: 1 });

describe("Postgres migrations", () => {
  it("applied by many nodes starting at once on a fresh database: each migration once, in order", async () => {
    const url = await emptyDatabase();
    const stores = Array.from({ length: 6 }, () => new PostgresStore({ url, notify: false, poolSize: 2 }));
    await Promise.all(stores.map((s) => s.migrate()));
    await Promise.all(stores.map((s) => s.close()));
    const sql = connect(url);
    const { rows } = await sql.query("SELECT version, name FROM stepwise_migrations ORDER BY version");
    expect(rows.map((r) => ({ version: r.version, name: r.name }))).toEqual(listMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(await pendingMigrations(sql)).toEqual([]);
    // and again: nothing left to do
    const again = new PostgresStore({ url, notify: false });
    await again.migrate();
    await again.close();
    expect((await sql.query("SELECT COUNT(*)::int AS n FROM stepwise_migrations")).rows[0]?.n).toBe(listMigrations().length);
    await sql.end();
  });

  it("lists every migration as pending on an empty database", async () => {
    const url = await emptyDatabase();
    const sql = connect(url);
    expect((await pendingMigrations(sql)).map((m) => m.name)).toEqual(listMigrations().map((m) => m.name));
    await sql.end();
  });

  it("refuse a database from a newer schema with a message that says what to do", async () => {
    const url = await emptyDatabase();
    const first = new PostgresStore({ url, notify: false });
    await first.migrate();
    await first.close();
    const sql = connect(url);
    await sql.query("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)");
    await sql.end();
    const store = new PostgresStore({ url, notify: false });
    await expect(store.migrate()).rejects.toThrow(/newer Stepwise.*Upgrade Stepwise/);
    await store.close();
  });

  it("the retention migration lists the later events of existing batch runs in run_events", async () => {
    const retentionVersion = listMigrations().find((m) => m.name.endsWith("_retention.sql"))!.version;
    const url = await emptyDatabase();
    const sql = connect(url);
    await sql.query("CREATE TABLE stepwise_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
    for (const m of listMigrations().filter((m) => m.version < retentionVersion)) {
      await sql.query(m.sql);
      await sql.query("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES ($1, $2, 0)", [m.version, m.name]);
    }
    await sql.query(`INSERT INTO runs (id, function_id, status, event_id, event_ids, created_at) VALUES
      ('r1', 'f', 'Queued', 'e1', '["e1","e2","e3"]', 1), ('r2', 'f', 'Completed', 'e4', '["e4"]', 1)`);
    const store = new PostgresStore({ url, notify: false });
    await store.migrate();
    await store.close();
    const { rows } = await sql.query("SELECT event_id, run_id FROM run_events ORDER BY event_id");
    expect(rows).toEqual([
      { event_id: "e2", run_id: "r1" },
      { event_id: "e3", run_id: "r1" },
    ]);
    await sql.end();
  });

  it("a running node keeps reading after a newer node adds columns (a rolling upgrade)", async () => {
    const url = await emptyDatabase();
    const store = new PostgresStore({ url, notify: false, poolSize: 1 });
    await store.migrate();
    const internalId = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const e = { internalId, id: internalId, name: "a", data: {}, user: {}, ts: 1, receivedAt: 1 };
    const r = { id: "01ARZ3NDEKTSV4RRFFQ69G5FAW", functionId: "f", status: "Queued" as const, eventIds: [internalId], createdAt: 1 };
    await store.ingestEvents({ events: [e], runs: [r], items: [] });
    // its one connection has prepared these reads
    expect(await store.getRun(r.id)).toMatchObject({ id: r.id });
    expect(await store.getEvent(internalId)).toMatchObject({ name: "a" });
    const newer = connect(url);
    await newer.query("ALTER TABLE runs ADD COLUMN added_later TEXT; ALTER TABLE events ADD COLUMN added_later TEXT");
    await newer.end();
    expect(await store.getRun(r.id)).toMatchObject({ id: r.id });
    expect(await store.getEvent(internalId)).toMatchObject({ name: "a" });
    expect(await store.listRuns({})).toHaveLength(1);
    await store.close();
  });
});
