/**
 * Counts what the stores send to their databases in this process, by wrapping the
 * drivers' own entry points (nothing in the stores changes):
 * - node-postgres: every `Client#query` is one round trip; a statement outside
 *   BEGIN…COMMIT is its own (autocommit) transaction.
 * - better-sqlite3: every outermost `transaction()` call and every `Statement#run` outside
 *   a transaction is one write transaction.
 */
import Database from "better-sqlite3";
import pg from "pg";

export interface Counts {
  /** Postgres: queries sent (each one a round trip). */
  roundTrips: number;
  /** Postgres: explicit transactions committed. */
  commits: number;
  /** Postgres: statements sent outside a transaction (each commits on its own). */
  autocommits: number;
  /** SQLite: outermost write transactions (each one a commit). */
  sqliteTransactions: number;
}

export const counts: Counts = { roundTrips: 0, commits: 0, autocommits: 0, sqliteTransactions: 0 };

export const snapshot = (): Counts => ({ ...counts });

export function since(start: Counts): Counts {
  return {
    roundTrips: counts.roundTrips - start.roundTrips,
    commits: counts.commits - start.commits,
    autocommits: counts.autocommits - start.autocommits,
    sqliteTransactions: counts.sqliteTransactions - start.sqliteTransactions,
  };
}

let installed = false;

export function installCounters(): void {
  if (installed) return;
  installed = true;
  const inTransaction = new WeakSet<object>();
  const clientProto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = clientProto.query;
  clientProto.query = function (this: object, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const text = (typeof first === "string" ? first : (first?.text ?? "")).trimStart().slice(0, 8).toUpperCase();
    counts.roundTrips++;
    if (text.startsWith("BEGIN")) inTransaction.add(this);
    else if (text.startsWith("COMMIT")) {
      inTransaction.delete(this);
      counts.commits++;
    } else if (text.startsWith("ROLLBACK")) inTransaction.delete(this);
    else if (!inTransaction.has(this)) counts.autocommits++;
    return query.apply(this, args);
  };

  type Tx = ((...args: unknown[]) => unknown) & Record<string, unknown>;
  const dbProto = Database.prototype as unknown as { transaction: (fn: unknown) => Tx };
  const transaction = dbProto.transaction;
  dbProto.transaction = function (this: Database.Database, fn: unknown) {
    const made = transaction.call(this, fn);
    const counted =
      (run: (...args: unknown[]) => unknown) =>
      (...args: unknown[]) => {
        if (!this.inTransaction) counts.sqliteTransactions++;
        return run(...args);
      };
    const wrapped = counted(made) as Tx;
    for (const variant of ["default", "deferred", "immediate", "exclusive"]) wrapped[variant] = counted(made[variant] as (...args: unknown[]) => unknown);
    return wrapped;
  };
  const scratch = new Database(":memory:");
  const statementProto = Object.getPrototypeOf(scratch.prepare("SELECT 1")) as { run: (...args: unknown[]) => unknown };
  scratch.close();
  const run = statementProto.run;
  statementProto.run = function (this: { database: Database.Database }, ...args: unknown[]) {
    if (!this.database.inTransaction) counts.sqliteTransactions++;
    return run.apply(this, args);
  };
}
