/**
 * @module stepwise/engine
 * `createEngine({ database })`: the durable engine inside your process, on embedded SQLite.
 */
import { Engine, type EngineOptions, type Store } from "@stepwise/engine";
import { SqliteStore } from "@stepwise/store-sqlite";

export interface CreateEngineOptions extends Omit<EngineOptions, "store"> {
  /** SQLite file path, or `":memory:"`. Ignored when `store` is given. (Default: "./stepwise.db".) */
  database?: string;
  /** Any `Store` implementation, instead of `database`. */
  store?: Store;
  /** SQLite durability: see `SqliteStoreOptions`. (Default: "normal".) */
  durability?: "normal" | "full";
}

/**
 * Opens (and migrates) the store and returns an engine. Register functions, then
 * `await engine.start()`.
 *
 * @example
 * const engine = await createEngine({ database: "./stepwise.db" });
 * engine.register({ client, functions: [hello] });
 * await engine.start();
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const { database, store: given, durability, ...rest } = options;
  const store = given ?? new SqliteStore({ filename: database ?? "./stepwise.db", ...(durability ? { durability } : {}) });
  await store.migrate();
  return new Engine({ ...rest, store });
}

export * from "@stepwise/engine";
export { SqliteStore } from "@stepwise/store-sqlite";
