/**
 * @module migrate
 * Applies `migrations/NNNN_name.sql` in order, recording them in `stepwise_migrations`.
 * The SQL files are the source of truth for the schema.
 *
 * Many nodes may start at once on one database: the whole upgrade runs in one
 * transaction holding a transaction-level advisory lock, so one node applies the
 * pending migrations and the others wait, then find nothing left to do. Postgres DDL is
 * transactional: a failing migration leaves the schema as it was.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type pg from "pg";

const migrationsDir = fileURLToPath(new URL("../migrations/", import.meta.url));

/** The advisory lock every migrating node takes (any bigint; this one spells the purpose). */
const migrationLock = "SELECT pg_advisory_xact_lock(hashtextextended('stepwise:migrate', 0))";

/** What runs a statement: a pool, a connection, or a transaction's queue of statements. */
export interface Queryable {
  query(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult>;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration this version knows, in order. */
export function listMigrations(): Migration[] {
  return readdirSync(migrationsDir)
    .filter((file) => /^\d{4}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 4)), name: file, sql: readFileSync(migrationsDir + file, "utf8") }));
}

/** The migrations not yet applied to this database (all of them on an empty one). */
export async function pendingMigrations(db: Queryable): Promise<Migration[]> {
  const [table] = (await db.query("SELECT to_regclass('stepwise_migrations') IS NOT NULL AS present")).rows;
  if (!table?.present) return listMigrations();
  const applied = new Set((await db.query("SELECT version FROM stepwise_migrations")).rows.map((r) => Number(r.version)));
  return listMigrations().filter((m) => !applied.has(m.version));
}

/**
 * Applies what is pending; refuses a database migrated by a newer Stepwise. Runs on a
 * connection inside a transaction the caller opened and commits.
 */
export async function migrate(tx: Queryable): Promise<void> {
  const known = listMigrations();
  const latest = Math.max(0, ...known.map((m) => m.version));
  await tx.query(migrationLock);
  await tx.query("CREATE TABLE IF NOT EXISTS stepwise_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
  const applied = new Set((await tx.query("SELECT version FROM stepwise_migrations")).rows.map((r) => Number(r.version)));
  const newest = Math.max(0, ...applied);
  if (newest > latest) {
    throw new Error(
      `this database was migrated to schema ${newest} by a newer Stepwise; this version knows up to ${latest}. Upgrade Stepwise or use another database`,
    );
  }
  for (const migration of known) {
    if (applied.has(migration.version)) continue;
    // no parameters: the simple protocol, which runs a file of several statements
    await tx.query(migration.sql);
    await tx.query("INSERT INTO stepwise_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [migration.version, migration.name, Date.now()]);
  }
}
