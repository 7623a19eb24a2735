/**
 * @module testing
 * Throw-away Postgres databases for tests: `createTestDatabase()` gives each test file a
 * database of its own, copied from a migrated template (`CREATE DATABASE … TEMPLATE`),
 * so no test sees another's rows and no test pays for the migrations.
 *
 * The template is named after a hash of the migrations, so a schema change builds a new
 * one. It is built under a session advisory lock on the maintenance database, under a
 * temporary name renamed when complete: several test workers starting at once build it
 * once, and a build cut off half-way is never used. The server comes from
 * `STEPWISE_TEST_POSTGRES_URL` (a URL of its maintenance database; default
 * `postgres://postgres@127.0.0.1:5432/postgres`).
 */
import { createHash, randomBytes } from "node:crypto";
import postgres from "postgres";
import { listMigrations } from "./migrate.ts";
import { PostgresStore } from "./postgres-store.ts";

/** The maintenance database test databases are created from. */
export function testServerUrl(): string {
  return process.env.STEPWISE_TEST_POSTGRES_URL || "postgres://postgres@127.0.0.1:5432/postgres";
}

/** `url` pointing at database `name` on the same server. */
export function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export interface TestDatabase {
  /** The URL of the new database. */
  url: string;
  /** Empties every Stepwise table (between tests of one file). */
  reset(): Promise<void>;
  /** Drops the database (terminating connections still open on it). */
  drop(): Promise<void>;
}

const tables = ["events", "runs", "steps", "queue", "pauses", "pause_paths", "cron_schedules", "flow_state"];

function templateName(): string {
  const hash = createHash("sha256");
  for (const m of listMigrations()) hash.update(m.name).update(m.sql);
  return `stepwise_tpl_${hash.digest("hex").slice(0, 12)}`;
}

/** A fresh, migrated database on the test server. */
export async function createTestDatabase(options: { serverUrl?: string } = {}): Promise<TestDatabase> {
  const serverUrl = options.serverUrl ?? testServerUrl();
  const template = templateName();
  const name = `stepwise_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  // one connection: the session advisory lock lives on it
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`SELECT pg_advisory_lock(hashtextextended('stepwise:test-template', 0))`;
    try {
      const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${template}`;
      if (!exists) {
        const building = `${template}_building`;
        await admin.unsafe(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
        await admin.unsafe(`CREATE DATABASE ${building}`);
        const store = new PostgresStore({ url: databaseUrl(serverUrl, building), notify: false, poolSize: 1 });
        try {
          await store.migrate();
        } finally {
          await store.close();
        }
        await admin.unsafe(`ALTER DATABASE ${building} RENAME TO ${template}`);
      }
      await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    } finally {
      await admin`SELECT pg_advisory_unlock(hashtextextended('stepwise:test-template', 0))`;
    }
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  return {
    url,
    async reset() {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`TRUNCATE ${tables.join(", ")} RESTART IDENTITY`);
      } finally {
        await sql.end();
      }
    },
    async drop() {
      const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}
