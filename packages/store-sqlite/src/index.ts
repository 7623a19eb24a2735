/**
 * @module @stepwise/store-sqlite
 * The engine's Store on embedded SQLite.
 */
export { listMigrations } from "./migrate.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.ts";
