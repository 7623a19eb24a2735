import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase, testServerUrl } from "./testing.ts";

const template = `stepwise_tpl_race_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: testServerUrl(), max: 1 });
afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.end();
});

describe("test databases", () => {
  it("several workers creating their databases at once build the template once, and each gets a migrated database of its own", async () => {
    const databases: TestDatabase[] = await Promise.all(Array.from({ length: 4 }, () => createTestDatabase({ template })));
    try {
      expect(new Set(databases.map((d) => d.url)).size).toBe(4);
      const { rows } = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname", [`${template}%`]);
      expect(rows.map((r) => r.datname)).toEqual([template]);
      for (const db of databases) {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        const { rows: tables } = await client.query("SELECT to_regclass('queue') IS NOT NULL AS present");
        await client.end();
        expect(tables[0]?.present).toBe(true);
      }
    } finally {
      for (const db of databases) await db.drop();
    }
    const left = await admin.query("SELECT 1 FROM pg_database WHERE datname = ANY($1)", [databases.map((d) => new URL(d.url).pathname.slice(1))]);
    expect(left.rowCount).toBe(0);
  });
});

describe("dropping a test database", () => {
  it("waits for a session that is closing instead of terminating it (a pool's end() resolves before its sockets close)", async () => {
    const db = await createTestDatabase({ empty: true });
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", record);
    try {
      // a pool's client once the pool has let go of it: no error listener, its Terminate not yet sent
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const socket = (client as unknown as { connection: { stream: import("node:net").Socket } }).connection.stream;
      socket.cork();
      const closed = client.end();
      setTimeout(() => socket.uncork(), 200);
      await db.drop();
      await closed;
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
      const left = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [new URL(db.url).pathname.slice(1)]);
      expect(left.rowCount).toBe(0);
    } finally {
      process.off("uncaughtException", record);
    }
  });
});
