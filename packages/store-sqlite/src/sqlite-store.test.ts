import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Store } from "@stepwise/engine";
import { runStoreConformance } from "@stepwise/store-conformance";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { listMigrations } from "./migrate.ts";
import { SqliteStore } from "./sqlite-store.ts";

const dirs = new Map<Store, string>();

runStoreConformance("SQLite file", {
  async create() {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-store-"));
    const store = new SqliteStore({ filename: join(dir, "test.db") });
    await store.migrate();
    dirs.set(store, dir);
    return store;
  },
  async destroy(store) {
    await store.close();
    rmSync(dirs.get(store)!, { recursive: true, force: true });
    dirs.delete(store);
  },
  // another connection on the same file, as a second process would open
  async createPeer(store) {
    const peer = new SqliteStore({ filename: join(dirs.get(store)!, "test.db") });
    await peer.migrate();
    return peer;
  },
});

runStoreConformance("SQLite :memory:", {
  async create() {
    const store = new SqliteStore({ filename: ":memory:" });
    await store.migrate();
    return store;
  },
  destroy: (store) => store.close(),
});

describe("SQLite migrations", () => {
  it("apply once, in order, and are recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-migrate-"));
    const file = join(dir, "m.db");
    for (let i = 0; i < 2; i++) {
      const store = new SqliteStore({ filename: file });
      await store.migrate();
      await store.close();
    }
    const db = new Database(file);
    const rows = db.prepare("SELECT version, name FROM stepwise_migrations ORDER BY version").all();
    expect(rows).toEqual(listMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the retention migration lists the later events of existing batch runs in run_events", async () => {
    const retentionVersion = listMigrations().find((m) => m.name.endsWith("_retention.sql"))!.version;
    const dir = mkdtempSync(join(tmpdir(), "stepwise-migrate-"));
    const file = join(dir, "r.db");
    const raw = new Database(file);
    raw.exec("CREATE TABLE stepwise_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (const m of listMigrations().filter((m) => m.version < retentionVersion)) {
      raw.exec(m.sql);
      raw.prepare("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES (?, ?, 0)").run(m.version, m.name);
    }
    raw.exec(`INSERT INTO runs (id, function_id, status, event_id, event_ids, created_at) VALUES
      ('r1', 'f', 'Queued', 'e1', '["e1","e2","e3"]', 1), ('r2', 'f', 'Completed', 'e4', '["e4"]', 1)`);
    raw.close();
    const store = new SqliteStore({ filename: file });
    await store.migrate();
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT event_id, run_id FROM run_events ORDER BY event_id").all()).toEqual([
      { event_id: "e2", run_id: "r1" },
      { event_id: "e3", run_id: "r1" },
    ]);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuse a database from a newer schema with a message that says what to do", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-migrate-"));
    const file = join(dir, "f.db");
    const first = new SqliteStore({ filename: file });
    await first.migrate();
    await first.close();
    const raw = new Database(file);
    raw.prepare("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)").run();
    raw.close();
    await expect(new SqliteStore({ filename: file }).migrate()).rejects.toThrow(/newer Stepwise.*Upgrade Stepwise/);
    rmSync(dir, { recursive: true, force: true });
  });
});
