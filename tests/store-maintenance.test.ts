/**
 * The SQLite store's housekeeping under contention: expired flow-control state is swept,
 * processes migrating one new file at once apply each migration once, and a process
 * waiting for another's write lock keeps its event loop (and so its heartbeats) running.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { startEngine, tempDir, until } from "./helpers.ts";

const migrateChild = fileURLToPath(new URL("./fixtures/migrate-child.ts", import.meta.url));

describe("store maintenance", () => {
  it("sweeps expired flow-control state in the background", async () => {
    const clock = createManualClock(Date.parse("2026-05-01T00:00:00Z"));
    const c = new Stepwise({ id: "sweep", logger: silentLogger });
    const fn = c.createFunction({ id: "once", idempotency: "event.data.key" }, { event: "sw/e" }, async () => "ok");
    const { engine, database } = await startEngine({ client: c, functions: [fn], clock });
    await c.send(Array.from({ length: 30 }, (_, i) => ({ name: "sw/e", data: { key: `k${i}` } })));
    const db = new Database(database, { readonly: true });
    const rows = () => (db.prepare("SELECT COUNT(*) AS n FROM flow_state WHERE key LIKE 'idempotency|%'").get() as { n: number }).n;
    expect(rows()).toBe(30);
    const runs = await engine.listRuns({ limit: 100 });
    for (const run of runs) await engine.waitForRun(run.id);
    // idempotency keys live 24 h; the sweeper runs every minute of engine time
    clock.advance(25 * 3_600_000);
    clock.advance(61_000);
    await until(() => rows() === 0, 5_000);
    expect(rows()).toBe(0);
    db.close();
  });

  it("four processes migrating one new file at once apply each migration exactly once", async () => {
    const database = join(tempDir(), "migrate.db");
    const results = await Promise.all(
      Array.from({ length: 4 }, () => {
        const proc = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", migrateChild, database], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        proc.stdout.on("data", (chunk) => (out += chunk));
        proc.stderr.on("data", (chunk) => (out += chunk));
        return new Promise<{ code: number | null; out: string }>((resolve) => proc.on("exit", (code) => resolve({ code, out })));
      }),
    );
    for (const result of results) expect(result, result.out).toMatchObject({ code: 0 });
    const db = new Database(database, { readonly: true });
    const applied = db.prepare("SELECT version, COUNT(*) AS n FROM stepwise_migrations GROUP BY version").all() as Array<{ version: number; n: number }>;
    db.close();
    const known = readdirSync(fileURLToPath(new URL("../packages/store-sqlite/migrations/", import.meta.url))).filter((f) => f.endsWith(".sql"));
    expect(applied.map((r) => r.version)).toEqual(known.map((f) => Number(f.slice(0, 4))).sort((a, b) => a - b));
    for (const row of applied) expect(row.n).toBe(1);
  });

  it("waiting for another connection's write lock does not block the event loop", async () => {
    const c = new Stepwise({ id: "busy", logger: silentLogger });
    const fn = c.createFunction({ id: "noop" }, { event: "busy/e" }, async () => "ok");
    const { engine, database } = await startEngine({ client: c, functions: [fn] });
    const other = new Database(database);
    other.prepare("BEGIN IMMEDIATE").run();
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const release = setTimeout(() => other.prepare("COMMIT").run(), 600);
    const { ids } = await c.send({ name: "busy/e", data: {} });
    clearInterval(ticker);
    clearTimeout(release);
    if (other.inTransaction) other.prepare("COMMIT").run();
    other.close();
    // the send waited for the lock (about 600 ms) while timers kept firing
    expect(longestGap).toBeLessThan(150);
    const [run] = await engine.listRuns({ eventId: ids[0] });
    expect((await engine.waitForRun(run!.id)).status).toBe("Completed");
  });
});
