/**
 * Graceful drain of a real `stepwise start` node (tests/fixtures/drain-node.ts, a child
 * process): SIGTERM during a long step turns /ready 503 at once, claims nothing more (a
 * second queued run is left for other nodes), lets the step finish and commit, and exits 0.
 * Then another node on the same database takes the queued run over.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIError, runCli } from "@stepwise/cli";
import { createEngine, type Engine } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Stepwise } from "stepwise";
import { afterEach, expect, it } from "vitest";

const fixture = join(import.meta.dirname, "..", "fixtures", "drain-node.ts");
const children: ChildProcess[] = [];
const engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Resolves when the child's stdout has a line matching `pattern` (rejects on exit or after `ms`). */
function waitForLine(child: ChildProcess, output: { text: string }, pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = output.text.match(pattern);
      if (match) {
        done();
        resolve(match);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no line matching ${pattern} within ${ms} ms; output so far:\n${output.text}`));
    }, ms);
    const onExit = () => {
      done();
      reject(new Error(`the node exited before printing ${pattern}; output:\n${output.text}`));
    };
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off("data", check);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", check);
    child.once("exit", onExit);
    check();
  });
}

it("SIGTERM during a long step: /ready 503 at once, no new claims, the step commits, exit 0", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-drain-"));
  dirs.push(dir);
  const database = join(dir, "drain.db");
  const child = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", fixture, database, "3000"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const output = { text: "" };
  child.stdout?.on("data", (chunk) => (output.text += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = (await waitForLine(child, output, /listening (\S+)/))[1] as string;
  expect((await fetch(`${url}/ready`)).status).toBe(200);

  const send = async () => {
    const res = await fetch(`${url}/e/drain-event-key`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "drain/slow" }),
    });
    expect(res.status).toBe(200);
  };
  await send();
  const firstRun = (await waitForLine(child, output, /step-started (\S+)/))[1] as string;
  // a second run of the same function: queued behind the first (concurrency 1)
  await send();

  child.kill("SIGTERM");
  // readiness turns 503 while the step is still running
  let ready: Response | undefined;
  for (let i = 0; i < 50; i++) {
    ready = await fetch(`${url}/ready`);
    if (ready.status === 503) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(ready?.status).toBe(503);
  expect(await ready?.json()).toMatchObject({ status: "not_ready", reason: expect.stringMatching(/^draining/) });
  expect(output.text).not.toMatch(/step-finished/);
  expect((await fetch(`${url}/health`)).status).toBe(200);

  const { code, signal } = await exited;
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  // the in-flight step finished here; the queued run never started on this node
  expect(output.text.match(/step-started/g)).toHaveLength(1);
  expect(output.text).toContain(`step-finished ${firstRun}`);

  const store = new SqliteStore({ filename: database });
  await store.migrate();
  const runs = await store.listRuns({ functionId: "drain-slow", limit: 10 });
  expect(runs).toHaveLength(2);
  const first = runs.find((r) => r.id === firstRun);
  const second = runs.find((r) => r.id !== firstRun);
  expect(first?.status).toBe("Completed");
  expect((await store.listSteps(firstRun)).map((s) => [s.id !== "", s.status])).toEqual([[true, "Completed"]]);
  expect(second?.status).toBe("Queued");
  expect(second?.startedAt).toBeUndefined();

  // another node on the same database takes the queued run over
  const client = new Stepwise({ id: "drain", logger: silentLogger });
  const slow = client.createFunction({ id: "slow", concurrency: { limit: 1 } }, { event: "drain/slow" }, async ({ step }) =>
    step.run("long", () => "taken over"),
  );
  const engine = createEngine({ store, logger: silentLogger });
  engines.push(engine);
  engine.register({ client, functions: [slow] });
  await engine.start();
  expect((await engine.waitForRun(second?.id as string, { timeoutMs: 10_000 })).status).toBe("Completed");
});

it("a bad --drain-timeout or STEPWISE_METRICS_PUBLIC is a clear CLI error, before anything starts", async () => {
  const keys = ["--signing-key", "signkey-test-00aa", "--event-key", "ek", "--db", ":memory:", "--port", "0"];
  for (const bad of ["soon", "1.5", "", "=-5"]) {
    const args = bad.startsWith("=") ? [`--drain-timeout${bad}`] : ["--drain-timeout", bad];
    await expect(runCli(["start", ...keys, ...args], {})).rejects.toThrow(CLIError);
    await expect(runCli(["start", ...keys, ...args], {})).rejects.toThrow(/--drain-timeout: expected milliseconds/);
  }
  await expect(runCli(["start", ...keys], { STEPWISE_DRAIN_TIMEOUT_MS: "10s" })).rejects.toThrow(/--drain-timeout: expected milliseconds/);
  await expect(runCli(["start", ...keys], { STEPWISE_METRICS_PUBLIC: "yes please" })).rejects.toThrow(/STEPWISE_METRICS_PUBLIC: expected 1, true, 0 or false/);
});
