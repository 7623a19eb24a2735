/**
 * Three engine processes on one database, one of them SIGKILLed mid-load: every run
 * completes, no step that ran on a surviving node runs again, a concurrency limit holds
 * across the cluster, and a cron tick fires once.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase, testServerUrl } from "@stepwise/store-postgres/testing";
import pg from "pg";
import { silentLogger } from "stepwise";
import { createEngine, type Engine } from "stepwise/engine";
import { afterEach, describe, expect, it } from "vitest";
import { clusterFunctions } from "./fixtures/cluster-functions.ts";
import { tempDir, until } from "./helpers.ts";

const nodeScript = fileURLToPath(new URL("./fixtures/cluster-node.ts", import.meta.url));
const children: ChildProcess[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const db of databases.splice(0)) await db.drop();
});

/** A fresh database for the cluster: a SQLite file, or a Postgres database of its own. */
async function clusterDatabase(store: string): Promise<string> {
  if (store === "SQLite file") return join(tempDir(), "cluster.db");
  const db = await createTestDatabase();
  databases.push(db);
  return db.url;
}

function startNode(database: string, label: string, marker: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--conditions=stepwise-source", "--import", "tsx", nodeScript, database, label, marker, JSON.stringify({ leaseMs: 1_000, deadlineMs: 115_000 })],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`node ${label} exited with ${code} before it was ready`)));
  });
}

const lines = (marker: string) => (existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n").filter(Boolean) : []);

/** The largest number of `limited` steps in progress at one instant; a killed node's open ones end when it died. */
function peakOverlap(marks: string[], killedLabel: string, killedAt: number): number {
  const edges: Array<[number, number]> = [];
  const open = new Map<string, string>();
  for (const line of marks) {
    const [label, kind, edge, runId, at] = line.split(" ");
    if (kind !== "limited") continue;
    const key = `${label} ${runId}`;
    if (edge === "start") {
      edges.push([Number(at), 1]);
      open.set(key, label as string);
    } else {
      edges.push([Number(at), -1]);
      open.delete(key);
    }
  }
  for (const label of open.values()) edges.push([label === killedLabel ? killedAt : Number.POSITIVE_INFINITY, -1]);
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, delta] of edges) peak = Math.max(peak, (now += delta));
  return peak;
}

/** Every pipeline announced itself exactly once (a step committed twice would announce twice). */
async function announcements(observer: Engine): Promise<Map<string, number>> {
  const events = await observer.store.listEvents({ name: "cluster/done", limit: 10_000 });
  return events.reduce((m, e) => m.set(String(e.data.runId), (m.get(String(e.data.runId)) ?? 0) + 1), new Map<string, number>());
}

async function clusterUnderLoad(database: string, observer: Engine, disrupt: (victim: ChildProcess, marker: string, label: string) => Promise<void>) {
  const marker = join(tempDir(), "marks.log");
  const labels = ["n1", "n2", "n3"];
  const nodes = await Promise.all(labels.map((label) => startNode(database, label, marker)));
  const pipelines = 200;
  const limited = 40;
  const started = Date.now();
  await observer.send(Array.from({ length: pipelines }, (_, i) => ({ name: "cluster/pipeline", data: { i } })));
  await observer.send(Array.from({ length: limited }, (_, i) => ({ name: "cluster/limited", data: { i } })));
  // disrupt a node mid-load, while it is inside a 1.5 s step (holding its lease): whichever
  // node starts a hold first (which node claims a run is the cluster's choice, not the test's)
  await until(() => lines(marker).filter((l) => l.includes(" run ")).length >= pipelines / 2, 30_000);
  const holder = () =>
    lines(marker)
      .find((l) => l.split(" ")[1] === "hold")
      ?.split(" ")[0];
  for (let i = 0; i < 10 && !holder(); i++) {
    await observer.send(Array.from({ length: 3 }, () => ({ name: "cluster/hold" })));
    await until(() => holder() !== undefined, 2_000);
  }
  const victim = holder();
  expect(
    victim,
    `no node started a hold; marks per node: ${labels.map((l) => `${l}=${lines(marker).filter((m) => m.startsWith(`${l} `)).length}`)}`,
  ).toBeDefined();
  const killedAt = Date.now();
  await disrupt(nodes[labels.indexOf(victim as string)] as ChildProcess, marker, victim as string);

  const terminal = async () => {
    const runs = await observer.listRuns({ limit: 1_000, functionId: "cluster-pipeline" });
    const more = await observer.listRuns({ limit: 1_000, functionId: "cluster-limited" });
    return [...runs, ...more];
  };
  const holds = () => observer.listRuns({ limit: 1_000, functionId: "cluster-hold" });
  await until(async () => (await terminal()).filter((r) => r.status === "Completed").length === pipelines + limited, 60_000);
  await until(async () => (await holds()).every((r) => r.status === "Completed"), 30_000);
  const elapsedS = (Date.now() - started) / 1000;
  // the nodes that are no longer running (a disruption's victim, or one that crashed)
  const exited = labels.filter((_, i) => nodes[i]?.exitCode !== null || nodes[i]?.signalCode !== null);
  return { marker, victim: victim as string, exited, killedAt, elapsedS, runs: await terminal(), holds: await holds() };
}

describe.each([{ store: "SQLite file" }, { store: "Postgres" }])("multi-node on one database ($store)", ({ store }) => {
  it("3 nodes, one SIGKILLed mid-load: all runs complete, nothing committed runs twice, the limit holds, cron fires once", async () => {
    const database = await clusterDatabase(store);
    // the observer sends and reads; it never starts, so it executes nothing
    const observer = await createEngine({ database, logger: silentLogger });
    observer.register(clusterFunctions(() => {}));
    try {
      const { marker, victim, exited, killedAt, runs, elapsedS, holds } = await clusterUnderLoad(database, observer, async (victim) => {
        victim.kill("SIGKILL");
        await new Promise((resolve) => victim.once("exit", resolve));
      });
      expect(exited).toEqual([victim]);
      // the step the victim died inside was taken over by a survivor and completed there
      expect(holds.map((r) => r.status).every((s) => s === "Completed")).toBe(true);
      const holdOutputs = holds.map((r) => r.output);
      expect(holdOutputs).not.toContain(victim);
      expect(runs.map((r) => r.status)).toEqual(Array(240).fill("Completed"));
      const announced = await announcements(observer);
      expect(announced.size).toBe(200);
      expect([...announced.values()].every((n) => n === 1)).toBe(true);
      const marks = lines(marker);

      // each pipeline step: executions in order; only the killed node may have run one that a survivor ran again
      const executions = new Map<string, string[]>();
      for (const line of marks) {
        const [label, kind, runId, stepId] = line.split(" ");
        if (kind === "run") executions.set(`${runId} ${stepId}`, [...(executions.get(`${runId} ${stepId}`) ?? []), label as string]);
      }
      expect(executions.size).toBe(200 * 3);
      // A step runs again only after the lease of the call that ran it was lost: the killed
      // node's, or a survivor's that stalled past its lease (a loaded machine), which the
      // run records. So every re-run is accounted for by a lease expiry of its run.
      const reruns = new Map<string, number>();
      for (const [key, labels] of executions) {
        const runId = key.split(" ")[0] as string;
        reruns.set(runId, (reruns.get(runId) ?? 0) + labels.length - 1);
      }
      const expiries = new Map(runs.map((r) => [r.id, r.leaseExpiries ?? 0]));
      const unexplained = [...reruns].filter(([runId, n]) => n > (expiries.get(runId) ?? 0));
      expect(unexplained).toEqual([]);
      const survivorReruns = [...executions.values()].filter((labels) => labels.slice(0, -1).some((l) => l !== victim)).length;
      const ranByEachNode = new Set([...executions.values()].flat());
      expect(ranByEachNode).toEqual(new Set(["n1", "n2", "n3"]));

      // the limit is on leases: a call still running after its lease was lost (a stalled
      // node) overlaps its successor, and its run records that
      const limitedExpiries = runs.filter((r) => r.functionId === "cluster-limited").reduce((n, r) => n + (r.leaseExpiries ?? 0), 0);
      expect(peakOverlap(marks, victim, killedAt)).toBeLessThanOrEqual(2 + limitedExpiries);

      // cron: one run per tick instant, whichever node fired it
      const ticks = new Map<string, string>();
      for (const line of marks) {
        const [, kind, ts, runId] = line.split(" ");
        if (kind === "tick") ticks.set(runId as string, String(Math.floor(Number(ts) / 1000)));
      }
      const perSecond = [...ticks.values()].reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<string, number>());
      expect(ticks.size).toBeGreaterThan(0);
      expect([...perSecond.values()].filter((n) => n > 1)).toEqual([]);
      const rerun = [...executions.values()].filter((labels) => labels.length > 1).length;
      console.info(
        `multi-node (${store}): ${victim} SIGKILLed inside a step; ${runs.length} runs completed in ${elapsedS.toFixed(1)} s; steps re-run: ${rerun} (after a survivor's lost lease: ${survivorReruns}); peak limited overlap ${peakOverlap(marks, victim, killedAt)}; ${ticks.size} cron ticks, none doubled`,
      );
    } finally {
      await observer.close();
    }
  }, 120_000);

  it("a node SIGSTOPped past its leases and then continued finds them fenced: nothing lost, nothing doubled", async () => {
    const database = await clusterDatabase(store);
    const observer = await createEngine({ database, logger: silentLogger });
    observer.register(clusterFunctions(() => {}));
    let stalled: string[] = [];
    let takenOver: string[] = [];
    try {
      const {
        runs,
        holds,
        victim: stopped,
        exited,
      } = await clusterUnderLoad(database, observer, async (victim, log, label) => {
        victim.kill("SIGSTOP");
        // the holds the victim is inside now (once it continues it may start others, and finish them itself)
        const marks = lines(log);
        const ended = new Set(marks.filter((l) => l.startsWith(`${label} hold end`)).map((l) => l.split(" ")[3]));
        stalled = marks
          .filter((l) => l.startsWith(`${label} hold start`))
          .map((l) => l.split(" ")[3] as string)
          .filter((runId) => !ended.has(runId));
        await new Promise((resolve) => setTimeout(resolve, 2_500)); // 2.5 leases
        // stay stopped until a survivor has taken over one of them (on a loaded machine that
        // can take longer than the leases); one not taken over yet is still the victim's to finish
        const survivorStarted = () =>
          lines(log)
            .map((l) => l.split(" "))
            .filter(([node, kind, edge, runId]) => node !== label && kind === "hold" && edge === "start" && stalled.includes(runId as string))
            .map(([, , , runId]) => runId as string);
        await until(() => survivorStarted().length > 0, 20_000);
        takenOver = survivorStarted();
        victim.kill("SIGCONT");
        // let it finish the step it was inside and try to commit it
        await until(() => lines(log).some((l) => l.startsWith(`${label} hold end`) && stalled.includes(l.split(" ")[3] as string)), 5_000);
      });
      expect(exited).toEqual([]);
      expect(runs.map((r) => r.status)).toEqual(Array(240).fill("Completed"));
      const announced = await announcements(observer);
      expect(announced.size).toBe(200);
      expect([...announced.values()].filter((n) => n !== 1)).toEqual([]);
      for (const run of runs.filter((r) => r.functionId === "cluster-pipeline")) {
        const steps = await observer.store.listSteps(run.id);
        expect(
          steps
            .filter((s) => s.status === "Completed")
            .map((s) => s.name)
            .sort(),
        ).toEqual(["a", "announce", "b", "c", "nap"]);
      }
      // the stalled node's leases expired and were taken over, and the runs say so; the
      // step it was inside when stopped finished there after it continued, and that late
      // result was refused: the committed output is the survivor's
      const held = holds.filter((r) => takenOver.includes(r.id));
      expect(held.length).toBeGreaterThan(0);
      for (const run of held) {
        expect(run.status).toBe("Completed");
        expect(["n1", "n2", "n3"].filter((n) => n !== stopped)).toContain(run.output);
      }
      expect(held.every((r) => (r.leaseExpiries ?? 0) > 0)).toBe(true);
      // a stalled hold no survivor had started: its lease was still the victim's, and it finished it
      for (const run of holds.filter((r) => stalled.includes(r.id) && !takenOver.includes(r.id))) expect(run.status).toBe("Completed");
      const expiries = [...runs, ...holds].reduce((n, r) => n + (r.leaseExpiries ?? 0), 0);
      console.info(`multi-node SIGSTOP (${store}): ${stopped} stopped; ${runs.length} runs completed; ${expiries} lease expiries recorded`);
    } finally {
      await observer.close();
    }
  }, 120_000);
});

/** Terminates every backend connected to the database of `url` (the engines' and the observer's), as an operator or a failover would. */
async function terminateBackends(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    const name = new URL(url).pathname.slice(1);
    const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name]);
    return rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

async function expectAllOnce(observer: Engine, runs: Array<{ status: string }>) {
  expect(runs.map((r) => r.status)).toEqual(Array(240).fill("Completed"));
  const announced = await announcements(observer);
  expect(announced.size).toBe(200);
  expect([...announced.values()].filter((n) => n !== 1)).toEqual([]);
}

describe("multi-node on Postgres, when Postgres misbehaves", () => {
  it("engine backends terminated three times mid-load: every run completes once", async () => {
    const database = await clusterDatabase("Postgres");
    const observer = await createEngine({ database, logger: silentLogger });
    observer.register(clusterFunctions(() => {}));
    let terminated = 0;
    try {
      const { runs, exited } = await clusterUnderLoad(database, observer, async () => {
        for (let i = 0; i < 3; i++) {
          terminated += await terminateBackends(database);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      });
      await expectAllOnce(observer, runs);
      // no node crashed on its lost connections
      expect(exited).toEqual([]);
      expect(terminated).toBeGreaterThan(3);
      console.info(`multi-node (Postgres): ${terminated} backends terminated mid-load; ${runs.length} runs completed once each`);
    } finally {
      await observer.close();
    }
  }, 120_000);

  // Restarting the server would break every other test file using it at the same time, so
  // this one runs alone: `.ci/run` runs it after the suite with STEPWISE_PG_RESTART=1.
  const restart = process.env.STEPWISE_PG_RESTART === "1";
  if (!restart) console.info("skipped: the Postgres restart test runs alone (STEPWISE_PG_RESTART=1, as .ci/run does after npm test)");
  it.skipIf(!restart)(
    "Postgres restarted mid-load (pg_ctlcluster restart): every run completes once",
    async () => {
      const database = await clusterDatabase("Postgres");
      const observer = await createEngine({ database, logger: silentLogger });
      observer.register(clusterFunctions(() => {}));
      let downMs = 0;
      try {
        const { runs, exited } = await clusterUnderLoad(database, observer, async () => {
          const began = Date.now();
          execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", readdirSync("/etc/postgresql")[0] as string, "main", "restart"]);
          downMs = Date.now() - began;
        });
        await expectAllOnce(observer, runs);
        // no node crashed on the restart
        expect(exited).toEqual([]);
        console.info(`multi-node (Postgres): restarted in ${downMs} ms mid-load; ${runs.length} runs completed once each`);
      } finally {
        await observer.close();
      }
    },
    180_000,
  );
});
