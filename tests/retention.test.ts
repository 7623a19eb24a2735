/**
 * Retention under steady load, on the store the engine tests run on (SQLite file, or
 * Postgres with STEPWISE_TEST_STORE=postgres): with a short retention on a manual clock,
 * finished runs, their steps and events, and expired flow state are deleted in the
 * background, so once warmed up the row counts (and the SQLite file's page count) stop
 * growing while runs keep completing; a run still waiting, and its event, stay.
 */
import { existsSync } from "node:fs";
import { createMetrics, fromWire } from "@stepwise/server";
import Database from "better-sqlite3";
import pg from "pg";
import { Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { parseRetention, runCli } from "../packages/cli/src/cli.ts";
import { toFunctionDefinition } from "../packages/sdk/src/serve/function-definition.ts";
import { startEngine, tempDir, testDatabase, until } from "./helpers.ts";

const tables = ["runs", "steps", "events", "pauses", "queue", "flow_state", "run_events"] as const;
type Counts = Record<(typeof tables)[number], number>;

/** Row counts of the tables retention keeps bounded, and (SQLite) the file's page count. */
async function inspect(database: string): Promise<{ counts: Counts; pages?: number }> {
  if (database.startsWith("postgres")) {
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      const counts = {} as Counts;
      for (const t of tables) counts[t] = Number((await client.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n);
      return { counts };
    } finally {
      await client.end();
    }
  }
  const db = new Database(database, { readonly: true });
  try {
    const counts = {} as Counts;
    for (const t of tables) counts[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { counts, pages: db.pragma("page_count", { simple: true }) as number };
  } finally {
    db.close();
  }
}

describe("retention", () => {
  it("keeps row counts and the file size flat under steady load, deleting in the background", { timeout: 30_000 }, async () => {
    const started = Date.now();
    const clock = createManualClock(Date.parse("2026-06-01T00:00:00Z"));
    const c = new Stepwise({ id: "ret", logger: silentLogger });
    const payload = "x".repeat(2_000);
    const work = c.createFunction(
      // unique rate-limit keys leave a flow-state row per event, expired after the period
      { id: "work", rateLimit: { limit: 1_000, period: "30s", key: "event.data.key" } },
      { event: "load/work" },
      async ({ step }) => {
        const a = await step.run("a", () => payload);
        const b = await step.run("b", () => a.length);
        return step.run("c", () => b + 1);
      },
    );
    const kept = c.createFunction({ id: "kept", retention: { runs: "200s" } }, { event: "load/kept" }, async ({ step }) => step.run("only", () => 1));
    const waiter = c.createFunction({ id: "waiter" }, { event: "load/wait" }, async ({ step }) =>
      step.waitForEvent("reply", { event: "load/never", timeout: "30d" }),
    );
    const metrics = createMetrics({ defaultMetrics: false });
    let sweeps = 0;
    const deleted: Record<string, number> = {};
    const { engine, database } = await startEngine({
      client: c,
      functions: [work, kept, waiter],
      clock,
      retention: "90s",
      metrics: {
        ...metrics.hooks,
        retentionDeleted: (kind, count) => {
          deleted[kind] = (deleted[kind] ?? 0) + count;
          metrics.hooks.retentionDeleted?.(kind, count);
        },
        storeWrite: (operation) => {
          if (operation === "sweep") sweeps++;
        },
      },
    });

    const { ids: waitIds } = await c.send({ name: "load/wait", data: {} });
    const [waiting] = await engine.listRuns({ eventId: waitIds[0] });
    await until(async () => (await engine.getRun(waiting!.id))?.steps.some((s) => s.op === "WaitForEvent") ?? false);

    const perRound = 30;
    const keptPerRound = 5;
    const rounds = 12;
    const warmUp = 4;
    const history: Array<{ counts: Counts; pages?: number }> = [];
    for (let round = 1; round <= rounds; round++) {
      const events = [
        ...Array.from({ length: perRound }, (_, i) => ({ name: "load/work", data: { key: `r${round}-${i}` } })),
        ...Array.from({ length: keptPerRound }, () => ({ name: "load/kept", data: {} })),
      ];
      const { ids } = await c.send(events);
      for (const id of ids) {
        const [run] = await engine.listRuns({ eventId: id });
        expect((await engine.waitForRun(run!.id, { timeoutMs: 10_000 })).status).toBe("Completed");
      }
      // the sweep timer is due every 60 s of engine time: this move fires it once
      const before = sweeps;
      clock.advance(61_000);
      await until(() => sweeps > before, 10_000);
      expect(sweeps).toBeGreaterThan(before);
      await new Promise((r) => setTimeout(r, 20));
      // runs of round k end at (k-1)·61 s: after the sweep at round·61 s, a 90 s retention has
      // removed rounds 1..round-1; the kept function's 200 s, rounds 1..round-3
      expect(deleted.runs ?? 0).toBe((round - 1) * perRound + Math.max(0, round - 3) * keptPerRound);
      history.push(await inspect(database));
    }

    const steady = history.slice(warmUp);
    for (const snapshot of steady) expect(snapshot.counts).toEqual(steady[0]!.counts);
    // what is left: the last round of work runs, three rounds of kept runs, the waiting run
    expect(steady[0]!.counts.runs).toBe(perRound + 3 * keptPerRound + 1);
    expect(steady[0]!.counts.steps).toBe(perRound * 3 + 3 * keptPerRound + 1);
    expect(steady[0]!.counts.queue).toBeLessThanOrEqual(1);
    expect(deleted.steps).toBe((rounds - 1) * perRound * 3 + (rounds - 3) * keptPerRound);
    expect(deleted.events).toBeGreaterThanOrEqual((rounds - 1) * perRound + (rounds - 3) * keptPerRound);
    expect(deleted.flow_state).toBeGreaterThanOrEqual((rounds - 1) * perRound);
    if (steady[0]!.pages !== undefined) {
      // freed pages are reused: the file stops growing once warmed up
      const pages = steady.map((s) => s.pages!);
      expect(Math.max(...pages), `page counts after warm-up: ${pages.join(", ")}`).toBeLessThanOrEqual(pages[0]! + 2);
    }

    // the run still waiting (started before all of it) and its event are kept
    expect((await engine.getRun(waiting!.id))?.status).toBe("Running");
    expect(await engine.store.getEvent(waitIds[0]!)).toBeDefined();

    const text = await metrics.registry.metrics();
    expect(text).toContain(`stepwise_retention_deleted_total{kind="runs"} ${deleted.runs}`);
    expect(text).toContain(`stepwise_retention_deleted_total{kind="steps"} ${deleted.steps}`);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("two nodes on one database sweep at once while runs execute: every run completes, each row is deleted once", { timeout: 30_000 }, async () => {
    const clock = createManualClock(Date.parse("2026-06-01T00:00:00Z"));
    const c = new Stepwise({ id: "pair", logger: silentLogger });
    const fn = c.createFunction({ id: "work" }, { event: "pair/work" }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      return step.run("b", () => a + 1);
    });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
    let ended = 0;
    let failed = 0;
    const deleted = { runs: 0, steps: 0, events: 0 };
    const metrics = {
      runEnded: (_fn: string, status: string) => {
        ended++;
        if (status !== "Completed") failed++;
      },
      retentionDeleted: (kind: string, count: number) => {
        if (kind in deleted) deleted[kind as keyof typeof deleted] += count;
      },
    };
    const sweeps = [0, 0];
    const node = (i: number) => ({ ...metrics, storeWrite: (operation: string) => void (operation === "sweep" && sweeps[i]!++) });
    // leases outlast the clock moves, so a call in flight across a move keeps its lease
    const options = { functions: [fn], clock, logger, retention: "90s", leaseMs: 600_000 };
    const first = await startEngine({ ...options, client: c, metrics: node(0) });
    await startEngine({ ...options, database: first.database, metrics: node(1) });
    const perRound = 40;
    let sent = 0;
    for (let round = 1; round <= 8; round++) {
      // this round's runs execute while the move below fires both nodes' sweeps
      await c.send(Array.from({ length: perRound }, () => ({ name: "pair/work", data: {} })));
      sent += perRound;
      clock.advance(61_000);
      await until(() => ended === sent, 15_000);
      expect(ended).toBe(sent);
    }
    // let the last sweeps finish
    clock.advance(61_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(failed).toBe(0);
    expect(warnings).toEqual([]);
    expect(sweeps[0]).toBeGreaterThanOrEqual(8);
    expect(sweeps[1]).toBeGreaterThanOrEqual(8);
    const { counts } = await inspect(first.database);
    expect(deleted.runs).toBeGreaterThanOrEqual(5 * perRound);
    // nothing deleted twice, nothing lost: what is left plus what both nodes deleted is what ran
    expect(counts.runs + deleted.runs).toBe(sent);
    expect(counts.steps + deleted.steps).toBe(sent * 2);
    expect(counts.events + deleted.events).toBeGreaterThanOrEqual(sent);
  });

  it("retention: false keeps finished runs however old", async () => {
    const clock = createManualClock(Date.parse("2026-06-01T00:00:00Z"));
    const c = new Stepwise({ id: "keep", logger: silentLogger });
    const fn = c.createFunction({ id: "fn" }, { event: "keep/e" }, async () => 1);
    let sweeps = 0;
    const { engine } = await startEngine({
      client: c,
      functions: [fn],
      clock,
      retention: false,
      metrics: { storeWrite: (op) => void (op === "sweep" && sweeps++) },
    });
    const { ids } = await c.send({ name: "keep/e", data: {} });
    const [run] = await engine.listRuns({ eventId: ids[0] });
    await engine.waitForRun(run!.id);
    clock.advance(400 * 86_400_000);
    await until(() => sweeps > 0);
    expect(sweeps).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(await engine.getRun(run!.id)).toMatchObject({ status: "Completed" });
  });

  it("refuses a malformed retention, naming the field", async () => {
    const database = await testDatabase(`${tempDir()}/bad.db`);
    await expect(startEngine({ database, retention: "soon" })).rejects.toMatchObject({ code: "invalid_argument", message: /^retention: / });
    await expect(startEngine({ database, retention: { runs: "5" } })).rejects.toMatchObject({ message: /^retention\.runs: must be at least 1s/ });
    await expect(startEngine({ database, retention: { events: "2d", forever: true } as never })).rejects.toMatchObject({
      message: /^retention: unknown option "forever"/,
    });
    const c = new Stepwise({ id: "bad", logger: silentLogger });
    expect(() => c.createFunction({ id: "f", retention: { runs: "a while" } }, { event: "x" }, async () => 1)).toThrow(
      /function "f": retention\.runs: cannot parse duration/,
    );
    expect(() => c.createFunction({ id: "g", retention: { steps: "1d" } as never }, { event: "x" }, async () => 1)).toThrow(
      /function "g": retention: unknown option "steps"/,
    );
  });

  it("the CLI refuses a malformed --retention or STEPWISE_RETENTION before it opens anything", async () => {
    const db = `${tempDir()}/cli.db`;
    const args = ["dev", "--no-discovery", "--port", "0", "--db", db];
    await expect(runCli([...args, "--retention", "soon"], {})).rejects.toThrow(/^--retention: retention: cannot parse duration "soon"/);
    await expect(runCli(args, { STEPWISE_RETENTION: "runs=1d,events" })).rejects.toThrow(/^--retention: expected runs=<duration>,events=<duration>/);
    expect(existsSync(db)).toBe(false);
  });

  it("the CLI's --retention and a served function's synced retention", () => {
    expect(parseRetention("3d")).toBe("3d");
    expect(parseRetention("off")).toBe(false);
    expect(parseRetention("86400000")).toBe(86_400_000);
    expect(parseRetention("runs=3d, events=off")).toEqual({ runs: "3d", events: false });
    expect(() => parseRetention("runs=3d,steps=1d")).toThrow(/--retention: expected runs=<duration>,events=<duration>/);
    expect(() => parseRetention("500ms")).toThrow(/--retention: retention: must be at least 1s/);
    // the Stepwise SDK's sync carries it, and the server reads it back
    const app = new Stepwise({ id: "app", logger: silentLogger });
    const served = app.createFunction({ id: "f", retention: { runs: "3d" } }, { event: "x" }, async () => 1);
    const definition = toFunctionDefinition(served.config, new URL("http://localhost:3000/api/inngest"));
    expect(definition.retention).toEqual({ runs: "3d" });
    expect(fromWire(definition as never, "app").config).toMatchObject({ slug: "f", retention: { runs: "3d" } });
    const step = { step: { id: "step", name: "step", runtime: { type: "http", url: "http://localhost:3000/api/inngest?fnId=app-f&stepId=step" } } };
    expect(fromWire({ id: "app-f", triggers: [{ event: "x" }], steps: step, retention: { runs: "3d" } }, "app").config.retention).toEqual({ runs: "3d" });
    expect(() => fromWire({ id: "app-f", triggers: [{ event: "x" }], steps: step, retention: { runs: "nope" } }, "app")).toThrow(
      /function "f": retention\.runs: cannot parse duration/,
    );
  });
});
