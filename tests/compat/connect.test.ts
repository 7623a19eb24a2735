/**
 * Inngest Connect against a Stepwise server: the official SDK's `connect()` worker
 * (`tests/compat/connect-worker.ts`, each in its own process) opens a WebSocket to the
 * server and gets its runs with no HTTP endpoint. Loopback only; every server and worker
 * started here is stopped here.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, runServer } from "@stepwise/cli";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { CloseCode, connectSubprotocol } from "@stepwise/server";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

const workerFile = join(import.meta.dirname, "connect-worker.ts");
const gatewayTimings = { heartbeatIntervalMs: 1_000, extendLeaseIntervalMs: 1_000, leaseTimeoutMs: 3_000, noWorkerWaitMs: 8_000 };

interface Worker {
  id: string;
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  waitFor(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const workers: Worker[] = [];
const servers: RunningServer[] = [];
const dirs: string[] = [];

function startWorker(id: string, url: string, env: Record<string, string> = {}): Worker {
  const proc = spawn(process.execPath, ["--experimental-websocket", "--no-warnings", "--conditions=stepwise-source", "--import", "tsx", workerFile], {
    env: { ...process.env, STEPWISE_URL: url, WORKER_ID: id, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  const listeners = new Set<() => void>();
  let buffered = "";
  proc.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // not one of the worker's JSON lines
      }
      nl = buffered.indexOf("\n");
    }
    for (const l of [...listeners]) l();
  });
  let stderr = "";
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const worker: Worker = {
    id,
    proc,
    lines,
    exited,
    waitFor: (match, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (!found) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`worker ${id}: no matching line within ${timeoutMs} ms; lines: ${JSON.stringify(lines)}; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
  workers.push(worker);
  return worker;
}

async function stopWorker(worker: Worker, signal: NodeJS.Signals = "SIGKILL") {
  if (worker.proc.exitCode === null && worker.proc.signalCode === null) worker.proc.kill(signal);
  await worker.exited;
}

async function startServer(options: Partial<Parameters<typeof runServer>[0]> = {}) {
  const server = await runServer({
    mode: "dev",
    port: 0,
    db: ":memory:",
    logRuns: false,
    dashboard: false,
    retryDelayScale: 0.01,
    logger: silentLogger,
    connect: gatewayTimings,
    ...options,
  } as Parameters<typeof runServer>[0]);
  servers.push(server);
  return server;
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function runOf(server: RunningServer, eventId: string | undefined) {
  for (let i = 0; i < 300; i++) {
    const runs = await server.engine.listRuns({ eventId: eventId as string });
    if (runs[0]) return runs[0];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no run for event ${eventId}`);
}

async function sendAndWait(server: RunningServer, name: string, data: Record<string, unknown> = {}, timeoutMs = 20_000) {
  const { ids } = await server.engine.send({ name, data });
  return server.engine.waitForRun((await runOf(server, ids[0])).id, { timeoutMs });
}

async function until(check: () => boolean, timeoutMs = 10_000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

afterEach(async () => {
  while (workers.length) await stopWorker(workers.pop() as Worker);
  while (servers.length) await (servers.pop() as RunningServer).close();
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("Connect: official SDK workers on a WebSocket", () => {
  it("runs steps, a sleep and a retried step on a connect() worker, with no HTTP endpoint", async () => {
    const server = await startServer();
    const worker = startWorker("A", server.url);
    await worker.waitFor((l) => "ready" in l);
    expect(server.server.connect.list()).toMatchObject([{ state: "ready", apps: ["connect-app"], instanceId: "A" }]);
    const run = await sendAndWait(server, "connect/steps", { name: "ada" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ a: "hi ada", b: 2, finishedBy: "A" });
    expect(Object.fromEntries(run.steps.map((s) => [s.name, [s.status, s.attempts]]))).toEqual({
      a: ["Completed", 1],
      nap: ["Completed", 1],
      flaky: ["Completed", 2],
    });
    expect(server.server.apps.list()).toEqual([]); // no HTTP app was ever synced
    const listed = (await (await fetch(`${server.url}/v1/connect/connections`)).json()) as { data: unknown[] };
    expect(listed.data).toMatchObject([{ state: "ready", apps: ["connect-app"], instanceId: "A", inFlight: 0 }]);
    const three = await sendAndWait(server, "connect/three");
    expect(three).toMatchObject({ status: "Completed", output: 3 });
  }, 40_000);

  it("keeps runs going across a server restart: the worker reconnects and the run completes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-connect-"));
    dirs.push(dir);
    const port = await freePort();
    const db = join(dir, "stepwise.db");
    let server = await startServer({ port, db });
    const worker = startWorker("A", server.url);
    await worker.waitFor((l) => "ready" in l);
    const { ids } = await server.engine.send({ name: "connect/nap", data: { sleep: "3s" } });
    const runId = (await runOf(server, ids[0])).id;
    await worker.waitFor((l) => l.step === "before" && l.runId === runId);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    server = await startServer({ port, db });
    const run = await server.engine.waitForRun(runId, { timeoutMs: 25_000 });
    expect({ status: run.status, output: run.output, error: run.error, steps: run.steps.map((s) => [s.name, s.status, s.attempts]) }).toMatchObject({
      status: "Completed",
      output: "A",
    });
    expect(worker.lines.filter((l) => l.step === "after" && l.runId === runId)).toHaveLength(1);
    expect(server.server.connect.list()).toMatchObject([{ state: "ready", instanceId: "A" }]);
  }, 50_000);

  it("drains a worker on WORKER_PAUSE: its call in flight finishes there, new calls go to the other worker", async () => {
    const server = await startServer();
    const a = startWorker("A", server.url);
    await a.waitFor((l) => "ready" in l);
    const { ids } = await server.engine.send({ name: "connect/slow", data: { ms: 3000 } });
    const slowRun = (await runOf(server, ids[0])).id;
    await a.waitFor((l) => l.step === "work-start" && l.runId === slowRun);
    const b = startWorker("B", server.url);
    await b.waitFor((l) => "ready" in l);
    a.proc.kill("SIGTERM"); // the SDK's graceful shutdown: WORKER_PAUSE, then drain
    await until(() => server.server.connect.list().some((c) => c.instanceId === "A" && c.state === "draining"), 5_000, "A draining");
    const naps = await Promise.all([1, 2, 3].map(() => sendAndWait(server, "connect/nap", { sleep: "1s" })));
    for (const nap of naps) expect(nap).toMatchObject({ status: "Completed", output: "B" });
    const slow = await server.engine.waitForRun(slowRun, { timeoutMs: 10_000 });
    expect(slow).toMatchObject({ status: "Completed", output: "A" });
    expect(await a.exited).toBe(0);
    // after the pause, A was sent nothing: every step of the new runs ran on B
    expect(a.lines.filter((l) => l.step === "before" || l.step === "after")).toEqual([]);
    expect(b.lines.filter((l) => l.step === "before")).toHaveLength(3);
    expect(a.lines.filter((l) => l.step === "work-end" && l.runId === slowRun)).toHaveLength(1);
  }, 40_000);

  it("retries the call of a worker killed mid-call on a second worker", async () => {
    const server = await startServer();
    const a = startWorker("A", server.url);
    await a.waitFor((l) => "ready" in l);
    const { ids } = await server.engine.send({ name: "connect/slow", data: { ms: 4000 } });
    const runId = (await runOf(server, ids[0])).id;
    await a.waitFor((l) => l.step === "work-start" && l.runId === runId);
    const b = startWorker("B", server.url);
    await b.waitFor((l) => "ready" in l);
    await stopWorker(a, "SIGKILL");
    const run = await server.engine.waitForRun(runId, { timeoutMs: 20_000 });
    expect(run).toMatchObject({ status: "Completed", output: "B" });
    expect(a.lines.filter((l) => l.step === "work-end")).toEqual([]);
    expect(b.lines.filter((l) => l.step === "work-start" && l.runId === runId)).toHaveLength(1);
    await until(() => server.server.connect.list().every((c) => c.instanceId === "B"), 5_000, "A's connection gone");
  }, 40_000);
});

describe("Connect: authentication and bad input", () => {
  it("stepwise start refuses connect/start without the hashed signing key (401) and serves a worker that has it", async () => {
    const signingKey = `signkey-test-${"ab".repeat(32)}`;
    const server = await startServer({ mode: "start", signingKey, eventKey: "evt-key", dashboardToken: "dash-secret-for-tests" });
    const start = (headers: Record<string, string>) =>
      fetch(`${server.url}/v0/connect/start`, { method: "POST", headers: { "content-type": "application/protobuf", ...headers }, body: new Uint8Array() });
    const anonymous = await start({});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: string }).error).toMatch(/hashed signing key/);
    expect((await start({ authorization: "Bearer dash-secret-for-tests" })).status).toBe(401);
    expect((await start({ authorization: `Bearer ${hashSigningKey(signingKey)}` })).status).toBe(200);
    expect((await fetch(`${server.url}/v1/connect/connections`)).status).toBe(401);
    const worker = startWorker("S", server.url, { SIGNING_KEY: signingKey });
    await worker.waitFor((l) => "ready" in l);
    expect(await sendAndWait(server, "connect/three")).toMatchObject({ status: "Completed", output: 3 });
  }, 30_000);

  it("answers bad requests and bad frames with a 4xx or a close code naming the problem", async () => {
    const server = await startServer();
    const wrongType = await fetch(`${server.url}/v0/connect/start`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(wrongType.status).toBe(415);
    const garbage = await fetch(`${server.url}/v0/connect/start`, {
      method: "POST",
      headers: { "content-type": "application/protobuf" },
      body: new Uint8Array([0x0a, 0xff, 0xff]),
    });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: string }).error).toMatch(/malformed StartRequest/);
    const gateway = `${server.url.replace("http", "ws")}/v0/connect/gateway`;
    const closeOf = (send: (ws: WebSocket) => void, protocols: string[] = [connectSubprotocol]) =>
      new Promise<{ code: number; reason: string }>((resolve) => {
        const ws = new WebSocket(gateway, protocols);
        ws.once("message", () => send(ws)); // after GATEWAY_HELLO
        ws.once("unexpected-response", (_req, res) => resolve({ code: res.statusCode ?? 0, reason: "http" }));
        ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }));
      });
    // WORKER_CONNECT (kind 1) with a session nobody issued
    const forged = new Uint8Array([0x08, 0x01, 0x12, 0x05, 0x0a, 0x03, 0x61, 0x62, 0x63]);
    expect(await closeOf((ws) => ws.send(forged))).toEqual({ code: CloseCode.unauthorized, reason: expect.stringMatching(/session token/) });
    expect(await closeOf((ws) => ws.send("hello"))).toEqual({ code: CloseCode.malformed, reason: expect.stringMatching(/text frame/) });
    expect(await closeOf((ws) => ws.send(new Uint8Array([0x08, 0x09])))).toEqual({
      code: CloseCode.malformed,
      reason: expect.stringMatching(/WORKER_CONNECT/),
    });
  });
});
