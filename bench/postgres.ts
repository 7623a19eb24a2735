/**
 * `npm run bench postgres`: the engine on Postgres (its defaults: fsync and
 * synchronous_commit on, the engine's default pool and concurrency), with the same rows
 * on a SQLite file beside it, then 1, 2 and 3 engine processes sharing one Postgres.
 *
 * Each store: 3-step runs/s, what one run costs (commits and round trips counted in the
 * driver, engine CPU, Postgres backends' CPU),
 * send→completed p50/p99 of 1- and 3-step runs and the per-step overhead, and how late
 * 10,000 sleepers wake. Every Postgres database is created for this bench and dropped
 * after it.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import pg from "pg";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine, type Engine } from "stepwise/engine";
import { cpuSecondsSince, ms, percentile, type Row, within } from "./harness.ts";
import { installCounters, since, snapshot } from "./postgres/counters.ts";
import { defineBenchFunctions, woke } from "./postgres/functions.ts";

const throughputRuns = Number(process.env.STEPWISE_BENCH_PG_RUNS ?? 1_000);
const latencySamples = Number(process.env.STEPWISE_BENCH_PG_SAMPLES ?? 300);
const sleepers = Number(process.env.STEPWISE_BENCH_PG_SLEEPERS ?? 10_000);
/** Sleepers started per second (the same on both stores). */
const sleeperRate = Number(process.env.STEPWISE_BENCH_PG_SLEEPER_RATE ?? 100);
const nodeRuns = Number(process.env.STEPWISE_BENCH_PG_NODE_RUNS ?? 1_000);
const nodeScript = fileURLToPath(new URL("./postgres/node.ts", import.meta.url));
const scenario = "postgres";
const fmt = (n: number, digits = 0) => n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A fresh database on the local server, with synchronous_commit back at the server's default (the test helper turns it off). */
async function freshDatabase(): Promise<{ db: TestDatabase; admin: pg.Client; name: string }> {
  const db = await createTestDatabase();
  const name = new URL(db.url).pathname.slice(1);
  const connect = async () => {
    const c = new pg.Client({ connectionString: db.url });
    c.on("error", () => {});
    await c.connect();
    return c;
  };
  const reset = await connect();
  await reset.query(`ALTER DATABASE ${name} RESET synchronous_commit`);
  await reset.end();
  // a session takes the database's settings when it opens: this one (and the engines') see the reset
  const admin = await connect();
  return { db, admin, name };
}

async function closeDatabase(handle: { db: TestDatabase; admin: pg.Client }) {
  await handle.admin.end().catch(() => {});
  await handle.db.drop();
}

/** CPU ticks (1/100 s) of this database's backends, by pid, from /proc. */
async function backendTicks(admin: pg.Client): Promise<Map<number, number>> {
  const { rows } = await admin.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  const ticks = new Map<number, number>();
  for (const { pid } of rows as Array<{ pid: number }>) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {}
  }
  return ticks;
}

/** Postgres backends' CPU seconds between two samples (backends that exited in between are missed: a lower bound). */
function backendSeconds(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, t] of after) total += t - (before.get(pid) ?? 0);
  return total / 100;
}

function untilEnded(engine: Engine, count: number, timeoutMs: number): { done: Promise<void>; off: () => void } {
  let ended = 0;
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  const off = engine.onRunEnded(() => {
    if (++ended === count) resolve();
  });
  const done = within(timeoutMs, all).then(() => {
    if (ended < count) throw new Error(`only ${ended} of ${count} runs ended within ${timeoutMs} ms`);
  });
  return { done, off };
}

async function sendThree(client: Stepwise, runs: number) {
  for (let sent = 0; sent < runs; sent += 500) {
    await client.send(Array.from({ length: Math.min(500, runs - sent) }, (_, i) => ({ name: "bench/three", data: { i: sent + i } })));
  }
}

async function throughput(engine: Engine, client: Stepwise, runs: number) {
  const { done, off } = untilEnded(engine, runs, 300_000);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await sendThree(client, runs);
  await done;
  const seconds = (performance.now() - start) / 1000;
  off();
  return { rate: runs / seconds, cpuSeconds: cpuSecondsSince(cpu) };
}

/** 1- and 3-step send→completed, alternated so both see the same conditions. */
async function latency(engine: Engine, client: Stepwise, samples: number) {
  const one: number[] = [];
  const three: number[] = [];
  let resolveEnd: (() => void) | undefined;
  const off = engine.onRunEnded(() => resolveEnd?.());
  for (let i = 0; i < samples * 2; i++) {
    const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
    const t0 = performance.now();
    await client.send({ name: i % 2 === 0 ? "bench/one" : "bench/three", data: { i } });
    if (
      !(await within(
        30_000,
        ended.then(() => true),
      ))
    )
      throw new Error("a latency sample did not end within 30 s");
    (i % 2 === 0 ? one : three).push(performance.now() - t0);
  }
  off();
  return { one: one.sort((a, b) => a - b), three: three.sort((a, b) => a - b) };
}

/** Starts `count` sleepers at `sleeperRate`, 10 at a time, each sleeping until 1 s after it was sent; returns how late each woke, sorted. */
async function sleepWave(engine: Engine, client: Stepwise, count: number, offset: number) {
  woke.clear();
  const { done, off } = untilEnded(engine, count, 300_000);
  const everyMs = (10 / sleeperRate) * 1000;
  for (let i = 0; i < count; i += 10) {
    const next = performance.now() + everyMs;
    const wakeAt = Date.now() + 1_000;
    await client.send(Array.from({ length: 10 }, (_, j) => ({ name: "bench/sleep", data: { i: offset + i + j, wakeAt } })));
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await done;
  off();
  return [...woke.values()].sort((a, b) => a - b);
}

async function storeRows(label: "Postgres" | "SQLite"): Promise<Row[]> {
  const rows: Row[] = [];
  const row = (metric: string, value: string) => rows.push({ scenario, metric: `${label}: ${metric}`, value });
  const pgDb = label === "Postgres" ? await freshDatabase() : undefined;
  const dir = mkdtempSync(join(tmpdir(), "stepwise-bench-pg-"));
  const client = new Stepwise({ id: "bench", logger: silentLogger });
  const engine = await createEngine({ database: pgDb ? pgDb.db.url : join(dir, "bench.db"), logger: silentLogger });
  engine.register({ client, functions: defineBenchFunctions(client) });
  await engine.start();
  try {
    if (pgDb) {
      const settings = await pgDb.admin.query(
        "SELECT current_setting('server_version') AS v, current_setting('fsync') AS f, current_setting('synchronous_commit') AS s, current_setting('wal_sync_method') AS w",
      );
      const s = settings.rows[0] as { v: string; f: string; s: string; w: string };
      row("server", `${s.v}, fsync ${s.f}, synchronous_commit ${s.s}, ${s.w}`);
    }
    await throughput(engine, client, 100); // warm-up
    const ticksBefore = pgDb ? await backendTicks(pgDb.admin) : new Map<number, number>();
    const countsBefore = snapshot();
    const tp = await throughput(engine, client, throughputRuns);
    const counted = since(countsBefore);
    const ticksAfter = pgDb ? await backendTicks(pgDb.admin) : new Map<number, number>();
    row(`3-step runs/s (${fmt(throughputRuns)} runs, sent in batches of 500)`, fmt(tp.rate));
    row("engine CPU per 3-step run", ms((tp.cpuSeconds * 1000) / throughputRuns));
    if (pgDb) {
      const perRun = (n: number) => fmt(n / throughputRuns, 2);
      row("commits per 3-step run (driver: COMMITs + autocommit statements)", perRun(counted.commits + counted.autocommits));
      row("  of which autocommit statements (reads, NOTIFY, lease extensions…)", perRun(counted.autocommits));
      row("round trips per 3-step run (queries sent, BEGIN/COMMIT included)", perRun(counted.roundTrips));
      row("Postgres backends' CPU per 3-step run (/proc, lower bound)", ms((backendSeconds(ticksBefore, ticksAfter) * 1000) / throughputRuns));
    } else {
      row("commits per 3-step run (write transactions, group commit)", fmt(counted.sqliteTransactions / throughputRuns, 2));
    }

    await latency(engine, client, 30); // warm-up
    const lat = await latency(engine, client, latencySamples);
    const p = (xs: number[], q: number) => percentile(xs, q);
    row(`1-step send→completed p50 (${latencySamples} samples)`, ms(p(lat.one, 50)));
    row("1-step send→completed p99", ms(p(lat.one, 99)));
    row("3-step send→completed p50", ms(p(lat.three, 50)));
    row("3-step send→completed p99", ms(p(lat.three, 99)));
    row("per-step overhead p50 ((3-step − 1-step) / 2)", ms((p(lat.three, 50) - p(lat.one, 50)) / 2));

    await sleepWave(engine, client, Math.min(500, sleepers), 0); // warm-up
    const late = await sleepWave(engine, client, sleepers, 1_000_000);
    const tag = `${fmt(sleepers)} sleepers (started at ${fmt(sleeperRate)}/s, 1 s each)`;
    row(`${tag}: lateness p50`, ms(p(late, 50)));
    row(`${tag}: lateness p99`, ms(p(late, 99)));
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
    if (pgDb) await closeDatabase(pgDb);
  }
  return rows;
}

interface Node {
  child: ChildProcess;
  ended: number;
  next(predicate: (message: unknown) => boolean): Promise<unknown>;
}

function startNode(url: string): Promise<Node> {
  const child = fork(nodeScript, [url], { execArgv: process.execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const waiters: Array<{ predicate: (m: unknown) => boolean; resolve: (m: unknown) => void }> = [];
  const node: Node = {
    child,
    ended: 0,
    next: (predicate) => new Promise((resolve) => waiters.push({ predicate, resolve })),
  };
  child.on("message", (message) => {
    if (typeof message === "object" && message && "ended" in message) node.ended = (message as { ended: number }).ended;
    const i = waiters.findIndex((w) => w.predicate(message));
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(message);
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench node exited with ${code} before it was ready`)));
    void node.next((m) => m === "ready").then(() => resolve(node));
  });
}

async function untilAllEnded(nodes: Node[], count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (nodes.reduce((n, node) => n + node.ended, 0) < count) {
    if (Date.now() > deadline) throw new Error(`only ${nodes.reduce((n, node) => n + node.ended, 0)} of ${count} runs ended within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `n` engine processes on one fresh database; this process only sends (its engine never starts). */
async function nodesRows(n: number): Promise<Row[]> {
  const handle = await freshDatabase();
  const nodes: Node[] = [];
  const client = new Stepwise({ id: "bench", logger: silentLogger });
  const sender = await createEngine({ database: handle.db.url, logger: silentLogger });
  sender.register({ client, functions: defineBenchFunctions(client) });
  try {
    nodes.push(...(await Promise.all(Array.from({ length: n }, () => startNode(handle.db.url)))));
    await sendThree(client, 100); // warm-up
    await untilAllEnded(nodes, 100, 120_000);
    await Promise.all(
      nodes.map((node) => {
        const marked = node.next((m) => m === "marked");
        node.child.send("mark");
        return marked;
      }),
    );
    for (const node of nodes) node.ended = 0;
    const ticksBefore = await backendTicks(handle.admin);
    const cpu = process.cpuUsage();
    const start = performance.now();
    await sendThree(client, nodeRuns);
    await untilAllEnded(nodes, nodeRuns, 300_000);
    const seconds = (performance.now() - start) / 1000;
    const senderCpu = cpuSecondsSince(cpu);
    const ticksAfter = await backendTicks(handle.admin);
    const reports = await Promise.all(
      nodes.map((node) => {
        const report = node.next((m) => typeof m === "object" && m !== null && "cpuMs" in m);
        node.child.send("report");
        return report as Promise<{ cpuMs: number }>;
      }),
    );
    const nodeCpuMs = reports.reduce((s, r) => s + r.cpuMs, 0);
    const label = `Postgres, ${n} node${n > 1 ? "s" : ""}`;
    const share = nodes.map((node) => fmt((100 * node.ended) / nodeRuns)).join("/");
    return [
      { scenario, metric: `${label}: 3-step runs/s (${fmt(nodeRuns)} runs; share of runs ended per node, %: ${share})`, value: fmt(nodeRuns / seconds) },
      { scenario, metric: `${label}: engine CPU per run (nodes' process.cpuUsage summed)`, value: ms(nodeCpuMs / nodeRuns) },
      { scenario, metric: `${label}: sender CPU per run (ingest only)`, value: ms((senderCpu * 1000) / nodeRuns) },
      {
        scenario,
        metric: `${label}: Postgres backends' CPU per run (/proc, lower bound)`,
        value: ms((backendSeconds(ticksBefore, ticksAfter) * 1000) / nodeRuns),
      },
    ];
  } finally {
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolve) => {
            if (node.child.exitCode !== null) return resolve();
            const timer = setTimeout(() => node.child.kill("SIGKILL"), 10_000);
            node.child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            node.child.send("stop");
          }),
      ),
    );
    await sender.close();
    await closeDatabase(handle);
  }
}

export async function postgres(): Promise<Row[]> {
  installCounters();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
  const rows: Row[] = [{ scenario, metric: "load average (1, 5, 15 min) when the scenario started", value: load }];
  rows.push(...(await storeRows("Postgres")));
  rows.push(...(await storeRows("SQLite")));
  for (const n of [1, 2, 3]) rows.push(...(await nodesRows(n)));
  rows.push({
    scenario,
    metric: "note: all nodes, the sender and Postgres share this machine's cores, so 2 and 3 nodes show overhead, not scale-out",
    value: "—",
  });
  return rows;
}
