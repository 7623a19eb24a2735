/**
 * @module stepwise/engine
 * `createEngine({ database })`: the durable engine inside your process, on embedded
 * SQLite (a file path or `":memory:"`) or on Postgres (a `postgres://` URL: many
 * processes and machines sharing one database).
 */
import { Engine, type EngineOptions, type Store } from "@stepwise/engine";
import { isPostgresUrl, PostgresStore, redactSecrets } from "@stepwise/store-postgres";
import { SqliteStore } from "@stepwise/store-sqlite";

export interface CreateEngineOptions extends Omit<EngineOptions, "store"> {
  /**
   * Where runs are stored: a SQLite file path, `":memory:"`, or a Postgres URL
   * (`postgres://user:password@host:5432/db` or `postgresql://…`). Ignored when `store`
   * is given. (Default: "./stepwise.db".)
   */
  database?: string;
  /** Any `Store` implementation, instead of `database`. */
  store?: Store;
  /** SQLite durability: see `SqliteStoreOptions`. (Default: "normal".) */
  durability?: "normal" | "full";
  /**
   * Apply pending schema migrations when the engine opens its database. With `false`
   * (Postgres only: e.g. when a deploy step runs `stepwise migrate`), the schema is only
   * checked, and an out-of-date one is an error. A SQLite file is always migrated on
   * open. (Default: true.)
   */
  migrate?: boolean;
  /** Postgres: connections in this process's pool. (Default: 10.) */
  poolSize?: number;
}

/**
 * Opens (and migrates) the store and returns an engine. Register functions, then
 * `await engine.start()`. On Postgres the engine also wakes other processes' workers
 * through LISTEN/NOTIFY (unless `notifier` is given).
 *
 * @example
 * const engine = await createEngine({ database: "./stepwise.db" });
 * // or, many nodes on one database:
 * const engine = await createEngine({ database: process.env.DATABASE_URL });
 * engine.register({ client, functions: [hello] });
 * await engine.start();
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const { database, store: given, durability, migrate, poolSize, ...rest } = options;
  if (migrate !== undefined && typeof migrate !== "boolean") throw new TypeError(`migrate: expected a boolean, received ${JSON.stringify(migrate)}`);
  if (given) {
    if (migrate !== false) await given.migrate();
    return new Engine({ ...rest, store: given });
  }
  const target = database ?? "./stepwise.db";
  if (typeof target !== "string") throw new TypeError(`database: expected a file path, ":memory:" or a postgres:// URL, received ${typeof target}`);
  if (isPostgresUrl(target)) {
    const logger = rest.logger;
    const store = new PostgresStore({
      url: target,
      ...(poolSize !== undefined ? { poolSize } : {}),
      ...(logger ? { onWarning: (message: string) => logger.warn(message) } : {}),
    });
    try {
      if (migrate === false) await checkSchema(store);
      else await store.migrate();
    } catch (error) {
      await store.close();
      if (error instanceof Error) error.message = redactSecrets(error.message, target);
      throw error;
    }
    return engineOn(
      store,
      () =>
        new Engine({
          ...rest,
          store,
          ...(rest.notifier || !store.notifier ? {} : { notifier: store.notifier }),
          ...(rest.realtime ? {} : { realtime: store.realtime }),
        }),
    );
  }
  if (migrate === false) throw new TypeError("migrate: false needs a Postgres database; a SQLite file is always migrated when it is opened");
  if (poolSize !== undefined) throw new TypeError("poolSize: applies to a Postgres database only");
  const store = new SqliteStore({ filename: target, ...(durability ? { durability } : {}) });
  await store.migrate();
  return engineOn(store, () => new Engine({ ...rest, store }));
}

/** Builds the engine on a store this function opened, closing the store when an option is refused. */
async function engineOn(store: Store, build: () => Engine): Promise<Engine> {
  try {
    return build();
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** With `migrate: false`: the schema must already be current. */
async function checkSchema(store: PostgresStore) {
  const pending = await store.pendingMigrations();
  if (pending.length > 0) {
    throw new Error(
      `the database schema is not current (pending: ${pending.map((m) => m.name).join(", ")}); run \`stepwise migrate --db <url>\` or open the engine without migrate: false`,
    );
  }
}

export * from "@stepwise/engine";
export { PostgresStore, type PostgresStoreOptions } from "@stepwise/store-postgres";
export { SqliteStore } from "@stepwise/store-sqlite";
