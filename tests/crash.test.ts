/**
 * Crash test: a child process runs the engine on a SQLite file and is killed with SIGKILL
 * while runs are mid-step and mid-sleep. A new process on the same file completes every
 * run; a step whose result had committed never runs again; no run is lost.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { silentLogger } from "stepwise";
import { createEngine } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { tempDir, testDatabase } from "./helpers.ts";

const child = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));
const runs = 40;

function start(args: string[]): { proc: ChildProcess; output: Promise<string> } {
  const proc = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", child, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout?.on("data", (chunk) => (out += chunk));
  const output = new Promise<string>((resolve, reject) => {
    proc.on("exit", () => resolve(out));
    proc.on("error", reject);
  });
  return { proc, output };
}

const effectLines = (file: string) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(" ") as [string, string, string])
    : [];

describe("crash safety", () => {
  it("SIGKILL mid-step and mid-sleep loses no run and re-runs no committed step", async () => {
    const dir = tempDir();
    const database = await testDatabase(join(dir, "crash.db"));
    const effects = join(dir, "effects.log");

    const first = start([database, effects, "g1", "send", String(runs)]);
    // Kill once some runs are asleep and others are still inside steps.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const lines = effectLines(effects);
      const slowDone = lines.filter((l) => l[2] === "slow").length;
      if ((slowDone >= 8 && lines.filter((l) => l[2] === "first").length > slowDone) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    first.proc.kill("SIGKILL");
    await first.output;

    // What had committed at the instant of the kill.
    // (read through the store API, so the test runs on either store; the reader never starts)
    const reader = await createEngine({ database, logger: silentLogger });
    const stored = await reader.listRuns({ limit: 10_000 });
    const committed = (await Promise.all(stored.map((r) => reader.store.listSteps(r.id))))
      .flat()
      .map((s) => ({ run_id: s.runId, name: s.name, status: s.status }));
    await reader.close();
    const sleeping = committed.filter((s) => s.status === "Sleeping").length;
    const queued = stored.length;
    const completedBefore = new Set(committed.filter((s) => s.status === "Completed").map((s) => `${s.run_id} ${s.name}`));
    const g1 = effectLines(effects);
    expect(queued).toBe(runs);
    expect(completedBefore.size).toBeGreaterThan(0);
    // the kill really happened mid-flight: some runs asleep, some steps executed but not all runs finished
    const midStep = [...completedBefore].filter((k) => k.endsWith(" first") && !completedBefore.has(k.replace(/ first$/, " slow"))).length;
    expect(sleeping).toBeGreaterThan(0);
    expect(midStep).toBeGreaterThan(0);
    expect(g1.filter((l) => l[2] === "last").length).toBeLessThan(runs);

    const second = start([database, effects, "g2", "resume", String(runs)]);
    const summary = JSON.parse((await second.output).trim().split("\n").at(-1) ?? "[]") as Array<{ id: string; status: string; output: { i: number } }>;

    expect(summary).toHaveLength(runs);
    expect(summary.every((r) => r.status === "Completed")).toBe(true);
    expect(new Set(summary.map((r) => r.output.i)).size).toBe(runs);

    const g2 = effectLines(effects).filter((l) => l[0] === "g2");
    const rerunCommitted = g2.filter(([, runId, step]) => completedBefore.has(`${runId} ${step}`));
    expect(rerunCommitted).toEqual([]);
    // every run's every step has an effect in one generation or the other
    const all = effectLines(effects);
    for (const r of summary) {
      for (const step of ["first", "slow", "last"]) expect(all.some(([, id, s]) => id === r.id && s === step)).toBe(true);
    }
  }, 60_000);
});
