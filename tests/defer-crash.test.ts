/**
 * Crash windows of defer and ordered fan-out: a child process is SIGKILLed at a named
 * fault point (STEPWISE_FAULTS), a second process on the same database finishes the work.
 * - defer: killed after the defer was checkpointed but before the call's outcome, and
 *   before the final commit (the one that schedules the defer): exactly one deferred run.
 * - ordered fan-out: killed after the first run's call began, before the next was let go:
 *   the chain still completes, in order, each run once.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir, testDatabase } from "./helpers.ts";

const child = fileURLToPath(new URL("./fixtures/defer-crash-child.ts", import.meta.url));

function run(args: string[], faults?: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const env = { ...process.env, STEPWISE_FAULTS: faults ?? "" };
  const proc = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", child, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
  let out = "";
  proc.stdout?.on("data", (chunk) => (out += chunk));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  return new Promise((resolve, reject) => {
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
    proc.on("error", reject);
  });
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : []);

type Summary = Array<{ id: string; functionId: string; status: string; output: unknown; parentRunId: string | null }>;

describe("crash safety of defer and ordered fan-out", () => {
  for (const fault of ["before-transition-commit", "before-transition-commit#2"]) {
    it(`defer: SIGKILL at ${fault} starts the deferred run exactly once`, async () => {
      const dir = tempDir();
      const database = await testDatabase(join(dir, "defer.db"));
      const effects = join(dir, "effects.log");
      const first = await run([database, effects, "defer", "send"], fault);
      expect(first.signal).toBe("SIGKILL");
      expect(lines(effects).filter((l) => l.startsWith("deferred"))).toEqual([]);
      const second = await run([database, effects, "defer", "resume"]);
      const summary = JSON.parse(second.out.trim().split("\n").at(-1) ?? "[]") as Summary;
      const parent = summary.find((r) => r.functionId === "dc-parent");
      expect(parent).toMatchObject({ status: "Completed", output: "parent done" });
      expect(summary.filter((r) => r.functionId === "dc-notify")).toEqual([
        expect.objectContaining({ status: "Completed", output: "t", parentRunId: parent?.id }),
      ]);
      expect(lines(effects).filter((l) => l.startsWith("deferred"))).toEqual(["deferred t"]);
    }, 60_000);
  }

  it("ordered fan-out: SIGKILL before the next run is let go; the chain completes in order", async () => {
    const dir = tempDir();
    const database = await testDatabase(join(dir, "ordered.db"));
    const effects = join(dir, "effects.log");
    const first = await run([database, effects, "ordered", "send"], "before-ordered-release");
    expect(first.signal).toBe("SIGKILL");
    // killed while run 0's handler had begun (or was about to): nothing after it started
    expect(lines(effects).filter((l) => l !== "item 0")).toEqual([]);
    const second = await run([database, effects, "ordered", "resume"]);
    const summary = JSON.parse(second.out.trim().split("\n").at(-1) ?? "[]") as Summary;
    expect(summary.filter((r) => r.functionId === "dc-item").map((r) => r.status)).toEqual(["Completed", "Completed", "Completed", "Completed"]);
    const items = lines(effects).filter((l) => l.startsWith("item"));
    // run 0's handler may have begun before the kill and again after; the others once each, in order
    expect(items.filter((l) => l !== "item 0")).toEqual(["item 1", "item 2", "item 3"]);
    expect(items.lastIndexOf("item 0")).toBeLessThan(items.indexOf("item 1"));
  }, 60_000);
});
