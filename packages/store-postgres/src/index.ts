/**
 * @module @stepwise/store-postgres
 * The engine's Store on Postgres: many Stepwise nodes on one database, with wake-ups
 * over LISTEN/NOTIFY.
 */
export { listMigrations, type Migration } from "./migrate.ts";
export { PostgresNotifier, type PostgresNotifierOptions } from "./notifier.ts";
export { defaultPoolSize, PostgresStore, type PostgresStoreOptions } from "./postgres-store.ts";
export { PostgresRealtimeBus, type PostgresRealtimeBusOptions } from "./realtime-bus.ts";
export { isPostgresUrl, redactSecrets, redactUrl } from "./redact.ts";
