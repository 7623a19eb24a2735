/**
 * Connect with several nodes on one Postgres database: two `start` nodes (separate
 * processes, tests/fixtures/connect-node.ts), one official-SDK `connect()` worker
 * (tests/compat/connect-cluster-worker.ts) reaching them through a TCP proxy that prefers
 * node B and falls back to node A when B refuses connections (a load balancer's health
 * check, reduced to its effect). Events go to node A; both nodes claim runs, and A forwards
 * its calls to B, which holds the worker's socket. Then B is killed mid-load: the worker
 * reconnects (to A), and every run completes with no step executed after its commit.
 * Every process started here is stopped here, by its pid.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer as createNetServer, type Server, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { CLIError, type RunningServer, runCli, runServer } from "@stepwise/cli";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { signForward } from "@stepwise/server";
import { PostgresStore } from "@stepwise/store-postgres";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const nodeFile = join(root, "tests", "fixtures", "connect-node.ts");
const workerFile = join(import.meta.dirname, "connect-cluster-worker.ts");
const signingKey = `signkey-test-${"ab12".repeat(16)}`;
const eventKey = "cluster-event-key";
const bearer = { authorization: `Bearer ${hashSigningKey(signingKey)}` };

interface Proc {
  proc: ChildProcess;
  lines: string[];
  stderr: () => string;
  exited: Promise<unknown>;
}

const procs: Proc[] = [];
let db: TestDatabase;
let store: PostgresStore;
let proxy: Server;

function start(args: string[], env: Record<string, string> = {}): Proc {
  const proc = spawn(process.execPath, [...args], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buffered = "";
  let stderr = "";
  proc.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
  });
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const p = { proc, lines, stderr: () => stderr.slice(-3000), exited };
  procs.push(p);
  return p;
}

async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const runs = store ? (await chainRuns()).map((r) => `${r.id} ${r.status} ${JSON.stringify(r.error ?? r.waitingOn ?? null)}`) : [];
      throw new Error(
        `timed out (${timeoutMs} ms) waiting for ${what}\nruns: ${runs.join("\n")}\nnode A: ${nodeA?.stderr()}\nnode B: ${nodeB?.stderr()}\nworker: ${worker?.lines.slice(-20).join("\n")} ${worker?.stderr()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function startNode(port: number): Proc {
  return start(["--conditions=stepwise-source", "--import", "tsx", nodeFile, db.url, String(port), signingKey, eventKey]);
}

/** Each connection goes to the first port that accepts it. */
function startProxy(ports: number[]): Promise<number> {
  proxy = createNetServer((client) => {
    client.pause();
    client.on("error", () => {});
    const attempt = (i: number) => {
      const upstream = tcpConnect(ports[i] as number, "127.0.0.1");
      upstream.once("error", () => {
        if (i + 1 < ports.length) attempt(i + 1);
        else client.destroy();
      });
      upstream.once("connect", () => {
        upstream.on("error", () => client.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  return new Promise((resolve) => proxy.listen(0, "127.0.0.1", () => resolve((proxy.address() as { port: number }).port)));
}

async function sendEvents(port: number, name: string, data: Array<Record<string, unknown>>): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/e/${eventKey}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(data.map((d) => ({ name, data: d }))),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ids: string[] }).ids;
}

async function chainRuns() {
  return (await store.listRuns({ limit: 1000 })).filter((r) => r.functionId.endsWith("chain"));
}

interface Execution {
  step: string;
  runId: string;
  at: number;
}

function executions(worker: Proc): Execution[] {
  return worker.lines.flatMap((l) => {
    try {
      const line = JSON.parse(l) as Partial<Execution>;
      return line.step ? [line as Execution] : [];
    } catch {
      return [];
    }
  });
}

async function nodeInfo(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/connect/connections`, { headers: bearer });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    data: Array<{ state: string; apps: string[] }>;
    node: { id: string; forwards: { sent: number; served: number; failed: number } };
  };
}

let portA: number;
let portB: number;
let nodeA: Proc;
let nodeB: Proc;
let worker: Proc;

describe("Connect on several nodes sharing one Postgres database", () => {
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresStore({ url: db.url, notify: false });
    await store.migrate();
    [portA, portB] = [await freePort(), await freePort()];
    nodeA = startNode(portA);
    nodeB = startNode(portB);
    await until(() => nodeA.lines.includes("ready") && nodeB.lines.includes("ready"), 20_000, "both nodes ready");
    const proxyPort = await startProxy([portB, portA]);
    worker = start(["--experimental-websocket", "--no-warnings", "--conditions=stepwise-source", "--import", "tsx", workerFile], {
      STEPWISE_URL: `http://127.0.0.1:${proxyPort}`,
      SIGNING_KEY: signingKey,
    });
    await until(() => worker.lines.some((l) => l.includes('"ready"')), 20_000, "the worker connected");
  }, 45_000);

  afterAll(async () => {
    for (const p of procs.reverse()) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
      await p.exited;
    }
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await store?.close();
    await db?.drop();
  });

  it("node A forwards its calls to node B, which holds the worker: every run completes, each step once", async () => {
    // the worker is on B only, and B advertises it in the registry
    expect((await nodeInfo(portB)).data).toMatchObject([{ state: "ready", apps: ["cluster-app"] }]);
    expect((await nodeInfo(portA)).data).toEqual([]);
    const rows = await until(
      async () => {
        const r = await store.listConnectConnections({ appName: "cluster-app", seenSince: Date.now() - 1_500 });
        return r.length ? r : undefined;
      },
      5_000,
      "the registry row",
    );
    expect(rows).toMatchObject([{ nodeUrl: `http://127.0.0.1:${portB}`, state: "ready", nodeId: (await nodeInfo(portB)).node.id }]);

    // A learns the app from the database (B stored it at the worker's sync)
    await until(
      async () => {
        const res = await fetch(`http://127.0.0.1:${portA}/v1/functions`, { headers: bearer });
        return JSON.stringify(await res.json()).includes("chain");
      },
      5_000,
      "node A to register the worker's functions",
    );
    const ids = await sendEvents(
      portA,
      "cluster/chain",
      Array.from({ length: 20 }, (_, i) => ({ i })),
    );
    expect(ids).toHaveLength(20);
    const runs = await until(
      async () => {
        const all = await chainRuns();
        return all.length === 20 && all.every((r) => r.status === "Completed") ? all : undefined;
      },
      30_000,
      "20 runs completed",
    );
    expect(runs.map((r) => r.output)).toEqual(Array(20).fill(3));
    const seen = executions(worker);
    const twice = runs.flatMap((run) =>
      ["s1", "s2", "s3"].filter((step) => seen.filter((e) => e.runId === run.id && e.step === step).length !== 1).map((step) => `${run.id}/${step}`),
    );
    if (twice.length) {
      const steps = await Promise.all(twice.map((t) => store.listSteps(t.split("/")[0] as string)));
      throw new Error(
        `not executed exactly once: ${twice.join(", ")}\nexecutions: ${JSON.stringify(seen.filter((e) => twice.some((t) => t.startsWith(e.runId))))}\nsteps: ${JSON.stringify(steps)}\nA: ${JSON.stringify((await nodeInfo(portA)).node)} ${nodeA.stderr()}\nB: ${JSON.stringify((await nodeInfo(portB)).node)} ${nodeB.stderr()}`,
      );
    }
    expect(seen).toHaveLength(60);
    const [a, b] = [(await nodeInfo(portA)).node.forwards, (await nodeInfo(portB)).node.forwards];
    // A claimed some of the calls and had no worker of its own: those went to B
    expect(a.sent).toBeGreaterThan(0);
    expect(a.failed).toBe(0);
    expect(b.served).toBe(a.sent);
  }, 45_000);

  it("refuses forwards that are unsigned or signed with another secret (401), malformed ones (400); no worker here is 503", async () => {
    const call = JSON.stringify({ appName: "cluster-app", functionId: "cluster-app-chain", stepId: "step", runId: "r", payload: "{}" });
    const forward = (body: string, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${portA}/v0/connect/forward`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const unsigned = await forward(call);
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toMatchObject({ code: "unauthorized" });
    expect((await forward(call, { "x-stepwise-node-signature": signForward(call, "another-secret-of-enough-length") })).status).toBe(401);
    expect((await forward(call, { "x-stepwise-node-signature": "t=1&s=00" })).status).toBe(401);
    // a signature of another body, and the worker's own credential, are no forward credential
    expect((await forward(call, { "x-stepwise-node-signature": signForward(`${call} `, signingKey) })).status).toBe(401);
    expect((await forward(call, bearer)).status).toBe(401);
    // stale: outside the 5-minute window
    expect((await forward(call, { "x-stepwise-node-signature": signForward(call, signingKey, Math.floor(Date.now() / 1000) - 600) })).status).toBe(401);
    for (const body of ["not json", "[]", JSON.stringify({ appName: "cluster-app" })]) {
      const res = await forward(body, { "x-stepwise-node-signature": signForward(body, signingKey) });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    // signed and well-formed, but node A holds no worker of the app: nothing was sent to a worker
    const noWorker = await forward(call, { "x-stepwise-node-signature": signForward(call, signingKey) });
    expect(noWorker.status).toBe(503);
    expect(await noWorker.json()).toMatchObject({ code: "no_worker" });
    expect(executions(worker).filter((e) => e.runId === "r")).toEqual([]);
  }, 20_000);

  it("node B killed mid-load: the worker reconnects to A and every run completes, no step executed after its commit", async () => {
    const before = new Set((await chainRuns()).map((r) => r.id));
    const executedBefore = executions(worker).length;
    const ids = await sendEvents(
      portA,
      "cluster/chain",
      Array.from({ length: 30 }, (_, i) => ({ i })),
    );
    expect(ids).toHaveLength(30);
    await until(() => executions(worker).length >= executedBefore + 20, 20_000, "the load under way");
    nodeB.proc.kill("SIGKILL");
    await nodeB.exited;
    const runs = await until(
      async () => {
        const fresh = (await chainRuns()).filter((r) => !before.has(r.id));
        return fresh.length === 30 && fresh.every((r) => r.status === "Completed" || r.status === "Failed") ? fresh : undefined;
      },
      40_000,
      "30 runs ended",
    );
    expect(runs.map((r) => [r.status, r.output])).toEqual(Array(30).fill(["Completed", 3]));
    // the worker is now connected to A; B's row, no longer refreshed, is dead (older than 3 intervals)
    expect((await nodeInfo(portA)).data).toMatchObject([{ state: "ready", apps: ["cluster-app"] }]);
    const live = await until(
      async () => {
        const rows = await store.listConnectConnections({ appName: "cluster-app", seenSince: Date.now() - 1_500 });
        return rows.length === 1 && rows[0]?.nodeUrl === `http://127.0.0.1:${portA}` ? rows : undefined;
      },
      5_000,
      "only node A's row live",
    );
    expect(live).toMatchObject([{ state: "ready", nodeId: (await nodeInfo(portA)).node.id }]);
    const seen = executions(worker);
    for (const run of runs) {
      let repeated = 0;
      const steps = await store.listSteps(run.id);
      for (const name of ["s1", "s2", "s3"]) {
        const committed = steps.find((s) => s.name === name);
        expect(committed?.status).toBe("Completed");
        const ran = seen.filter((e) => e.runId === run.id && e.step === name);
        expect(ran.length).toBeGreaterThanOrEqual(1);
        // an execution whose result B never committed may run again; none after the commit
        for (const e of ran) expect(e.at).toBeLessThanOrEqual(committed?.endedAt as number);
        repeated += ran.length - 1;
      }
      // a run has one call in flight at a time: at most that one call, lost with B, ran again
      expect(repeated).toBeLessThanOrEqual(1);
    }
  }, 55_000);
});

describe("a forward to a node that is gone", () => {
  it("is an app outage: the run waits without spending its retries, then completes on a worker that connects", async () => {
    const own = await createTestDatabase();
    const ghost = await freePort(); // nothing listens there
    let refresh: NodeJS.Timeout | undefined;
    let server: RunningServer | undefined;
    let second: Proc | undefined;
    const registry = new PostgresStore({ url: own.url, notify: false });
    try {
      server = await runServer({
        mode: "start",
        port: 0,
        db: own.url,
        signingKey,
        eventKey,
        dashboardToken: "dashboard-secret-for-tests",
        logRuns: false,
        dashboard: false,
        logger: silentLogger,
        retryDelayScale: 0.01,
        appOutage: { minDelayMs: 100, maxDelayMs: 300 },
        connect: { heartbeatIntervalMs: 1_000, extendLeaseIntervalMs: 1_000, leaseTimeoutMs: 3_000, noWorkerWaitMs: 3_000, registryIntervalMs: 500 },
      });
      const stored = server;
      // a worker syncs once (the app is stored and registered), then leaves
      const first = start(["--experimental-websocket", "--no-warnings", "--conditions=stepwise-source", "--import", "tsx", workerFile], {
        STEPWISE_URL: server.url,
        SIGNING_KEY: signingKey,
      });
      await until(() => first.lines.some((l) => l.includes('"ready"')), 20_000, "the worker connected");
      first.proc.kill("SIGKILL");
      await first.exited;
      await until(() => stored.server.connect.list().length === 0, 5_000, "the connection closed");
      // the registry says another node holds a worker; that node is gone (its port refuses)
      const row = { connectionId: "ghost-conn", appName: "cluster-app", nodeId: "ghost", nodeUrl: `http://127.0.0.1:${ghost}`, state: "ready" as const };
      await registry.saveConnectConnections([{ ...row, lastSeenAt: Date.now() }]);
      refresh = setInterval(() => void registry.saveConnectConnections([{ ...row, lastSeenAt: Date.now() }]), 100);
      const { ids } = await stored.engine.send({ name: "cluster/fragile", data: {} });
      const runId = await until(async () => (await stored.engine.listRuns({ eventId: ids[0] as string }))[0]?.id, 5_000, "the run");
      const waiting = await until(
        async () => {
          const run = await stored.engine.getRun(runId);
          return run?.waitingOn?.kind === "app" && (run.waitingOn.failures ?? 0) >= 2 ? run : undefined;
        },
        10_000,
        "the run to wait for its app",
      );
      expect(waiting.status).toBe("Running");
      expect(waiting.waitingOn).toMatchObject({ kind: "app", reason: expect.stringMatching(/forwarding to node ghost .*ECONNREFUSED/) });
      expect(stored.server.connect.node().forwards.failed).toBeGreaterThanOrEqual(2);
      // the ghost's rows stop being refreshed; a worker connects here
      clearInterval(refresh);
      refresh = undefined;
      second = start(["--experimental-websocket", "--no-warnings", "--conditions=stepwise-source", "--import", "tsx", workerFile], {
        STEPWISE_URL: server.url,
        SIGNING_KEY: signingKey,
      });
      const ended = await stored.engine.waitForRun(runId, { timeoutMs: 20_000 });
      expect({ status: ended.status, output: ended.output, error: ended.error }).toEqual({ status: "Completed", output: 42, error: undefined });
      expect(ended.steps.map((s) => [s.name, s.attempts])).toEqual([["only", 1]]);
      expect(executions(second).filter((e) => e.runId === runId)).toHaveLength(1);
    } finally {
      if (refresh) clearInterval(refresh);
      // this worker outlives the first block's cleanup: stopped here, or it would keep reconnecting
      if (second && second.proc.exitCode === null && second.proc.signalCode === null) second.proc.kill("SIGKILL");
      await second?.exited;
      await server?.close();
      await registry.close();
      await own.drop();
    }
  }, 50_000);
});

describe("--node-url and STEPWISE_NODE_SECRET", () => {
  const dev = ["dev", "--port", "0", "--db", ":memory:", "--no-discovery"];
  it("refuses a node URL that is not an http(s) origin, a short secret, and dev's --node-url without a secret", async () => {
    for (const url of ["10.0.0.5:8288", "http://u:p@10.0.0.5:8288", "http://10.0.0.5:8288/x?secret=1", "ftp://h"]) {
      await expect(runCli([...dev, "--node-url", url], { STEPWISE_NODE_SECRET: "s".repeat(16) })).rejects.toThrow(/--node-url: expected/);
    }
    await expect(runCli(dev, { STEPWISE_NODE_SECRET: "short" })).rejects.toThrow(/STEPWISE_NODE_SECRET: expected at least 16/);
    await expect(runCli([...dev, "--node-url", "http://127.0.0.1:1"], {})).rejects.toThrow(CLIError);
  });

  it("advertises the node URL and forwards with the secret from the environment", async () => {
    const server = (await runCli([...dev, "--node-url", "http://127.0.0.1:9/"], { STEPWISE_NODE_SECRET: "a-node-secret-of-length" })) as RunningServer;
    try {
      expect(server.server.connect.node()).toMatchObject({ url: "http://127.0.0.1:9/", forwarding: true });
      const call = JSON.stringify({ appName: "nobody", functionId: "f", stepId: "step", runId: "r", payload: "{}" });
      const res = await fetch(`${server.url}/v0/connect/forward`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-stepwise-node-signature": signForward(call, "a-node-secret-of-length") },
        body: call,
      });
      expect(res.status).toBe(503);
    } finally {
      await server.close();
    }
    const plain = (await runCli(dev, {})) as RunningServer;
    try {
      expect(plain.server.connect.node()).toMatchObject({ url: null, forwarding: false });
      const res = await fetch(`${plain.url}/v0/connect/forward`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(res.status).toBe(401);
    } finally {
      await plain.close();
    }
  }, 20_000);

  it("start mode signs with the signing key and accepts the fallback key's signature (rotation); an explicit secret replaces both", async () => {
    const fallback = `signkey-test-${"cd34".repeat(16)}`;
    const call = JSON.stringify({ appName: "nobody", functionId: "f", stepId: "step", runId: "r", payload: "{}" });
    const base = {
      mode: "start" as const,
      port: 0,
      db: ":memory:",
      signingKey,
      signingKeyFallback: fallback,
      eventKey,
      dashboardToken: "dashboard-secret-for-tests",
    };
    const post = (url: string, secret: string) =>
      fetch(`${url}/v0/connect/forward`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-stepwise-node-signature": signForward(call, secret) },
        body: call,
      }).then((r) => r.status);
    const quiet = { logRuns: false, dashboard: false, logger: silentLogger };
    const keyed = await runServer({ ...base, ...quiet });
    try {
      expect([await post(keyed.url, signingKey), await post(keyed.url, fallback), await post(keyed.url, "a-node-secret-of-length")]).toEqual([503, 503, 401]);
    } finally {
      await keyed.close();
    }
    const own = await runServer({ ...base, ...quiet, cluster: { nodeSecret: "a-node-secret-of-length" } });
    try {
      expect([await post(own.url, "a-node-secret-of-length"), await post(own.url, signingKey), await post(own.url, fallback)]).toEqual([503, 401, 401]);
    } finally {
      await own.close();
    }
  });
});
