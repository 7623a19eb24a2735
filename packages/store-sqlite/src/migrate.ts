/**
 * @module migrate
 * Applies `migrations/NNNN_name.sql` in order, each in its own transaction, recording
 * them in `stepwise_migrations`. The SQL files are the source of truth for the schema.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type Database from "better-sqlite3";

const migrationsDir = fileURLToPath(new URL("../migrations/", import.meta.url));

export function listMigrations(): Array<{ version: number; name: string; sql: string }> {
  return readdirSync(migrationsDir)
    .filter((file) => /^\d{4}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 4)), name: file, sql: readFileSync(migrationsDir + file, "utf8") }));
}

/**
 * Each migration checks, inside its own `BEGIN IMMEDIATE` transaction, whether it was
 * applied, so processes starting at once on one file apply each exactly once.
 */
export function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS stepwise_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  const known = listMigrations();
  const latest = Math.max(0, ...known.map((m) => m.version));
  const newest = () => (db.prepare("SELECT MAX(version) AS v FROM stepwise_migrations").get() as { v: number | null }).v ?? 0;
  const isApplied = db.prepare("SELECT 1 FROM stepwise_migrations WHERE version = ?");
  if (newest() > latest) {
    throw new Error(
      `this database was migrated to schema ${newest()} by a newer Stepwise; this version knows up to ${latest}. Upgrade Stepwise or use another database file`,
    );
  }
  for (const migration of known) {
    db.transaction(() => {
      if (isApplied.get(migration.version)) return;
      db.exec(migration.sql);
      db.prepare("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}
