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
 *
 * Test databases run with `synchronous_commit = off`: a commit returns before its WAL is
 * flushed to disk. Only a crash of the Postgres server itself could lose the last
 * commits, which no test does; visibility, locking and every other semantic is unchanged,
 * and tests stop waiting on the disk.
 */
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { listMigrations } from "./migrate.ts";
import { PostgresStore } from "./postgres-store.ts";
import { redactUrl } from "./redact.ts";

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

const tables = ["events", "runs", "steps", "queue", "pauses", "pause_paths", "cron_schedules", "flow_state", "run_events"];

function templateName(): string {
  const hash = createHash("sha256");
  for (const m of listMigrations()) hash.update(m.name).update(m.sql);
  return `stepwise_tpl_${hash.digest("hex").slice(0, 12)}`;
}

/** Runs `body` on a connection of its own to `url`, closed after. */
async function withClient<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  // a connection dropped by the server while we hold it must not crash the test process
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (cause) {
    throw new Error(
      `the Postgres tests need a server at ${redactUrl(url)} (${(cause as Error).message}): start one (\`.ci/run\` does) or set STEPWISE_TEST_POSTGRES_URL`,
      { cause },
    );
  }
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** Test databases older than this with nobody connected were left by a killed test run. */
const abandonedAfterMs = 6 * 60 * 60 * 1000;

/** Drops test databases a killed run left behind (their names carry their creation time). */
async function dropAbandoned(admin: pg.Client) {
  const { rows } = await admin.query(
    `SELECT datname FROM pg_database d WHERE datname LIKE 'stepwise\\_test\\_%' AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
  );
  for (const { datname } of rows as Array<{ datname: string }>) {
    const created = Number.parseInt(datname.split("_")[2] ?? "", 36);
    if (Number.isFinite(created) && Date.now() - created > abandonedAfterMs) await admin.query(`DROP DATABASE IF EXISTS ${datname}`);
  }
}

const templateLock = "hashtextextended('stepwise:test-template', 0)";

export interface TestDatabaseOptions {
  /** The maintenance database's URL. (Default: `testServerUrl()`.) */
  serverUrl?: string;
  /** A database without the schema, for migration tests. */
  empty?: boolean;
  /** The template's name. (Default: `stepwise_tpl_` and a hash of the migrations.) */
  template?: string;
}

/** A fresh, migrated database on the test server. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = options.serverUrl ?? testServerUrl();
  const template = options.template ?? templateName();
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(template)) throw new TypeError(`template: expected a lower-case database name, received ${JSON.stringify(template)}`);
  const name = `stepwise_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  // the session advisory lock lives on this one connection
  await withClient(serverUrl, async (admin) => {
    if (options.empty) {
      await admin.query(`CREATE DATABASE ${name}`);
      return void (await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`));
    }
    await admin.query(`SELECT pg_advisory_lock(${templateLock})`);
    try {
      const exists = (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [template])).rowCount;
      if (!exists) {
        const building = `${template}_building`;
        await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${building}`);
        const store = new PostgresStore({ url: databaseUrl(serverUrl, building), notify: false, poolSize: 1 });
        try {
          await store.migrate();
        } finally {
          await store.close();
        }
        await admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`);
      }
      await dropAbandoned(admin);
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
    } finally {
      await admin.query(`SELECT pg_advisory_unlock(${templateLock})`);
    }
  });
  const url = databaseUrl(serverUrl, name);
  return {
    url,
    reset: () => withClient(url, async (client) => void (await client.query(`TRUNCATE ${tables.join(", ")} RESTART IDENTITY`))),
    drop: () => withClient(serverUrl, (client) => dropDatabase(client, name)),
  };
}

/**
 * Drops `name` once its sessions have gone (up to 3 s), forcing only after. A pool's
 * `end()` resolves before its sockets close, and a session the server terminates while
 * its client is ending raises an error no listener is left to catch.
 */
async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    const { rows } = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
    if (rows[0]?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
