/**
 * Regression tests across processes sharing one SQLite file: a process killed at a named
 * crash window (STEPWISE_FAULTS) leaves nothing that only it knew, and a process whose
 * lease expired cannot overwrite the work of the one that took the run over.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

const childScript = fileURLToPath(new URL("./fixtures/contract-child.ts", import.meta.url));

interface Step {
  name: string;
  status: string;
  output?: unknown;
}
interface Run {
  id: string;
  functionId: string;
  status: string;
  output?: unknown;
  error?: { message?: string };
  steps: Step[];
  leaseExpiries?: number;
}
interface Child {
  proc: ChildProcess;
  /** Resolves when the process exits, with its stdout and how it ended. */
  done: Promise<{ out: string; code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const proc of started.splice(0)) {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) proc.kill("SIGKILL");
  }
});

function start(database: string, until: "sent" | "waiting" | "ended", options: Record<string, unknown> = {}, faults?: string): Child {
  const env = { ...process.env };
  delete env.STEPWISE_FAULTS;
  if (faults) env.STEPWISE_FAULTS = faults;
  const proc = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", childScript, database, until, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  started.push(proc);
  let out = "";
  proc.stdout?.on("data", (chunk) => (out += chunk));
  const done = new Promise<{ out: string; code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    proc.on("exit", (code, signal) => resolve({ out, code, signal }));
    proc.on("error", reject);
  });
  return { proc, done };
}

/** The runs a child printed last (one JSON line). */
function runsIn(out: string): Run[] {
  const line = out.trim().split("\n").at(-1) ?? "[]";
  return JSON.parse(line.startsWith("[") ? line : "[]") as Run[];
}

function readDb<T>(database: string, read: (db: Database.Database) => T): T {
  const db = new Database(database, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

async function waitFor(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe("a process killed in a crash window", () => {
  it("after the event commit: the event still resumes the run waiting for it", async () => {
    const database = join(tempDir(), "contract.db");
    const first = await start(database, "waiting", { send: { name: "x/start" } }).done;
    const [waiting] = runsIn(first.out);
    expect(waiting?.steps.map((s) => s.status)).toEqual(["Waiting"]);

    const sender = await start(database, "sent", { send: { name: "x/go", data: { ok: 1 } } }, "after-ingest-commit").done;
    expect(sender.signal).toBe("SIGKILL");
    const stored = readDb(database, (db) => (db.prepare("SELECT COUNT(*) AS n FROM events WHERE name = 'x/go'").get() as { n: number }).n);
    expect(stored).toBe(1);

    const last = await start(database, "ended", { deadlineMs: 10_000 }).done;
    const run = runsIn(last.out).find((r) => r.id === waiting?.id);
    expect(run?.status).toBe("Completed");
    expect(run?.output).toMatchObject({ name: "x/go", data: { ok: 1 } });
  }, 20_000);

  it("after the first claim: timeouts.finish still cancels the run", async () => {
    const database = join(tempDir(), "contract.db");
    const first = await start(database, "ended", { leaseMs: 300, send: { name: "x/finish" } }, "after-claim").done;
    expect(first.signal).toBe("SIGKILL");
    const status = readDb(database, (db) => db.prepare("SELECT status FROM runs").all() as Array<{ status: string }>);
    expect(status).toEqual([{ status: "Running" }]);

    const second = await start(database, "ended", { leaseMs: 300, deadlineMs: 8_000 }).done;
    const [run] = runsIn(second.out);
    expect(run?.status).toBe("Cancelled");
    expect(run?.error?.message).toMatch(/timeouts\.finish/);
  }, 20_000);

  it("before a step.sendEvent result is stored: the event is stored once", async () => {
    const database = join(tempDir(), "contract.db");
    const first = await start(database, "ended", { leaseMs: 300, send: { name: "x/fan" } }, "before-step-commit").done;
    expect(first.signal).toBe("SIGKILL");

    const second = await start(database, "ended", { leaseMs: 300, deadlineMs: 8_000 }).done;
    const run = runsIn(second.out).find((r) => r.functionId === "proc-fan");
    expect(run?.status).toBe("Completed");
    const sent = readDb(database, (db) => (db.prepare("SELECT COUNT(*) AS n FROM events WHERE name = 'x/out'").get() as { n: number }).n);
    expect(sent).toBe(1);
  }, 20_000);
});

describe("leases", () => {
  it("a process whose lease expired mid-step cannot overwrite the run taken over from it", async () => {
    const dir = tempDir();
    const database = join(dir, "contract.db");
    const marker = join(dir, "marker.log");
    const lines = () => (existsSync(marker) ? readFileSync(marker, "utf8").split("\n").filter(Boolean) : []);
    // A sends and blocks in step "s" for 1.5 s with a 300 ms lease; B starts once A is in the
    // step, so B takes the run over while A is still blocked.
    const a = start(database, "ended", { label: "A", leaseMs: 300, marker, send: { name: "x/lease" }, deadlineMs: 12_000 });
    const b = start(database, "ended", { label: "B", leaseMs: 300, marker, startWhen: "A s", deadlineMs: 12_000 });
    await waitFor(() => lines().includes("B s"), 10_000);
    const atTakeover = lines();
    expect(atTakeover).toContain("B s");
    expect(atTakeover).not.toContain("A s-done");
    const [outA, outB] = await Promise.all([a.done, b.done]);
    expect(outA.code).toBe(0);
    expect(outB.code).toBe(0);

    const runId = readDb(database, (db) => (db.prepare("SELECT id FROM runs").get() as { id: string }).id);
    const stored = readDb(database, (db) => ({
      run: db.prepare("SELECT status, output FROM runs WHERE id = ?").get(runId) as { status: string; output: string },
      step: db.prepare("SELECT status, output FROM steps WHERE run_id = ? AND name = 's'").get(runId) as { status: string; output: string },
    }));
    expect(stored.run.status).toBe("Completed");
    expect(JSON.parse(stored.run.output)).toEqual(JSON.parse(stored.step.output));
    expect(stored.step.status).toBe("Completed");
    const [run] = runsIn(outB.out).filter((r) => r.id === runId);
    expect(run?.leaseExpiries).toBeGreaterThanOrEqual(1);
  }, 20_000);
});
