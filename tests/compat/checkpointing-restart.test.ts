/**
 * A served run survives its server: the server process is killed (STEPWISE_FAULTS) right
 * after it committed the second checkpointed step of a call, and a new server process on
 * the same database finishes the run. No committed step runs again; the step that was
 * not committed runs once, in the new process's call.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";

const nodeScript = fileURLToPath(new URL("../fixtures/served-node.ts", import.meta.url));
const children: ChildProcess[] = [];
let app: Server | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function startNode(database: string, port: number, appUrl: string, faults?: string) {
  const env = { ...process.env };
  delete env.STEPWISE_FAULTS;
  if (faults) env.STEPWISE_FAULTS = faults;
  const child = spawn(process.execPath, ["--conditions=stepwise-source", "--import", "tsx", nodeScript, database, String(port), appUrl], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  children.push(child);
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
    child.on("exit", (code, signal) => reject(new Error(`server exited before it was ready (${code ?? signal})`)));
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  return { ready, exited };
}

async function api<T>(port: number, path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return ((await response.json()) as { data: T }).data;
}

describe("a served, checkpointed run across a server crash", () => {
  it("completes after a restart without re-running committed steps", async () => {
    const database = join(tempDir(), "served.db");
    const port = await freePort();
    const ran: Record<string, number> = {};
    const count = (name: string) => (ran[name] = (ran[name] ?? 0) + 1);
    const inngest = new Inngest({ id: "crash", isDev: true, baseUrl: `http://127.0.0.1:${port}`, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fn = inngest.createFunction({ id: "three", triggers: [{ event: "crash/three" }] }, async ({ step }) => {
      const a = await step.run("a", () => count("a"));
      const b = await step.run("b", () => count("b") + a);
      return step.run("c", () => count("c") + b);
    });
    app = createServer(serve({ client: inngest, functions: [fn] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;

    const first = startNode(database, port, appUrl, "after-step-commit#2");
    await first.ready;
    const { ids } = await inngest.send({ name: "crash/three", data: {} });
    expect(await first.exited).toBe("SIGKILL");
    expect([ran.a, ran.b, ran.c]).toEqual([1, 1, undefined]);

    const second = startNode(database, port, appUrl);
    await second.ready;
    let runs: Array<{ run_id: string; status: string; output: unknown }> = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      runs = await api(port, `/v1/events/${ids[0]}/runs`);
      if (runs[0]?.status === "Completed") break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "Completed", output: 3 });
    expect([ran.a, ran.b, ran.c]).toEqual([1, 1, 1]);
  }, 40_000);
});
