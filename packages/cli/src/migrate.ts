/**
 * @module migrate
 * `stepwise migrate --db <path|url> [--print]`: applies the database's pending schema
 * migrations and exits (a deploy step, before nodes started with `--no-migrate`), or,
 * with `--print`, writes their SQL to stdout and applies nothing.
 */
import { parseArgs } from "node:util";
import { isPostgresUrl, PostgresStore, redactSecrets, redactUrl } from "@stepwise/store-postgres";
import { listMigrations as sqliteMigrations } from "@stepwise/store-sqlite";
import { envKeys, readEnv } from "./env.ts";
import { CLIError } from "./errors.ts";
import { openStore } from "./run-server.ts";

export async function migrateCommand(args: string[], env: NodeJS.ProcessEnv, helpText: string): Promise<void> {
  let values: { db?: string; print?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { db: { type: "string" }, print: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (cause) {
    throw new CLIError((cause as Error).message, "run `stepwise --help` for the flags");
  }
  if (values.help) {
    process.stdout.write(helpText);
    return;
  }
  const db = values.db ?? readEnv(envKeys.db, env);
  if (!db) throw new CLIError("stepwise migrate needs a database", `pass --db <path|postgres://…> or set ${envKeys.db.join(" or ")}`);
  const shown = redactUrl(db);
  if (values.print) {
    if (isPostgresUrl(db)) {
      const store = new PostgresStore({ url: db, notify: false, retryForMs: 2_000 });
      try {
        const pending = await store.pendingMigrations();
        process.stdout.write(
          pending.length ? pending.map((m) => `-- ${m.name}\n${m.sql.trimEnd()}\n`).join("\n") : `-- ${shown}: the schema is current; nothing to apply\n`,
        );
      } catch (cause) {
        throw new CLIError(`cannot read the database ${shown}: ${redactSecrets((cause as Error).message, db)}`, "check the --db URL and that Postgres is up");
      } finally {
        await store.close();
      }
    } else {
      // a SQLite file records what it applied; each migration below is skipped there if already applied
      process.stdout.write(
        `-- SQLite migrations (applied in order, each once, on open)\n${sqliteMigrations()
          .map((m) => `-- ${m.name}\n${m.sql.trimEnd()}\n`)
          .join("\n")}`,
      );
    }
    return;
  }
  let applying: string[] = [];
  if (isPostgresUrl(db)) {
    const probe = new PostgresStore({ url: db, notify: false, retryForMs: 2_000 });
    applying = await probe.pendingMigrations().then(
      (pending) => pending.map((m) => m.name),
      () => [],
    );
    await probe.close();
  }
  const { store } = await openStore(db, true);
  await store.close();
  process.stdout.write(`stepwise migrate: ${shown} is at the current schema${applying.length ? ` (applied ${applying.join(", ")})` : ""}\n`);
}
