/**
 * An app outage never fails a run: while the app is unreachable its calls are retried on
 * their own backoff, spending none of the function's `retries`, and the run shows that it
 * waits for its app; only an outage longer than the budget fails the run.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CLIError, type RunningServer, runCli, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { decodeResponse, HttpFunction } from "@stepwise/server";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterEach, describe, expect, it } from "vitest";

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

/**
 * An HTTP server for `handler` on `port` (0: any). `stop` is a deploy's stop: calls in
 * flight are answered, later ones are reset before the app sees them, new connections are
 * refused. (An abruptly killed call may have run its step with the reply lost; that step
 * runs again, by design, so this test stops the app the way that loses no reply.)
 */
async function listen(handler: Parameters<typeof createServer>[1], port = 0): Promise<{ server: Server; port: number; stop(): Promise<void> }> {
  let down = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = createServer((req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    inFlight++;
    res.once("close", () => {
      if (--inFlight === 0) drained?.();
    });
    handler?.(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const stop = async () => {
    if (down) return;
    down = true;
    server.close();
    server.closeIdleConnections();
    if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
    server.closeAllConnections();
  };
  return { server, port: (server.address() as AddressInfo).port, stop };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("classifying a served call's failure", () => {
  const sdk = { "x-inngest-sdk": "inngest-js:v4.24.0", "content-type": "application/json" };
  it("marks replies no SDK sent as unreachable and SDK errors as attempts", async () => {
    for (const status of [502, 503, 504, 404]) {
      const result = await decodeResponse(new Response("<html>gateway</html>", { status, headers: { "content-type": "text/html" } }), "app");
      expect(result).toMatchObject({ type: "function-rejected", unreachable: true, error: { name: "HttpTransportError" } });
    }
    const answered = await decodeResponse(new Response(JSON.stringify({ name: "Error", message: "boom" }), { status: 500, headers: sdk }), "app");
    expect(answered).toMatchObject({ type: "function-rejected", retriable: true, error: { message: "boom" } });
    expect((answered as { unreachable?: boolean }).unreachable).toBeUndefined();
    const garbled = await decodeResponse(new Response("not json", { status: 200, headers: sdk }), "app");
    expect((garbled as { unreachable?: boolean }).unreachable).toBeUndefined();
  });
});

describe("a served call's transport", () => {
  const config = { id: "t-fn", slug: "fn", appId: "t", name: "fn", triggers: [], retries: 1 };
  const input = {
    runId: "r",
    event: { id: "e", name: "x", data: {}, user: {}, ts: 1 },
    events: [{ id: "e", name: "x", data: {}, user: {}, ts: 1 }],
    memo: new Map(),
    attempt: 0,
    maxAttempts: 2,
  };
  const sdk = { "x-inngest-sdk": "inngest-js:v4.24.0", "content-type": "application/json" };

  it("reuses one connection, and a socket the app closed while idle is not an outage", async () => {
    let connections = 0;
    const app = await listen((_req, res) => {
      res.writeHead(200, sdk).end('"ok"');
    });
    closers.push(() => app.stop());
    const fn = new HttpFunction({ config, url: `http://127.0.0.1:${app.port}/api/inngest`, serverKind: "dev", timeoutMs: 2_000 });
    const { server } = app;
    server.on("connection", () => connections++);
    for (let i = 0; i < 20; i++) expect(await fn.execute(input)).toEqual({ type: "function-resolved", data: "ok" });
    expect(connections).toBe(1);
    // the app drops its idle keep-alive sockets (as a restart or a short keepAliveTimeout does)
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) expect(await fn.execute(input)).toEqual({ type: "function-resolved", data: "ok" });
  });

  it("a reply the SDK began and the connection cut short is an attempt, not an outage", async () => {
    const app = await listen((req, res) => {
      res.writeHead(206, { ...sdk, "content-length": "100" });
      res.write('[{"id":');
      setTimeout(() => req.socket.destroy(), 10);
    });
    closers.push(() => app.stop());
    const fn = new HttpFunction({ config, url: `http://127.0.0.1:${app.port}/api/inngest`, serverKind: "dev", timeoutMs: 2_000 });
    const result = await fn.execute(input);
    expect(result).toMatchObject({
      type: "function-rejected",
      retriable: true,
      error: { name: "HttpTransportError", message: expect.stringMatching(/cut short/) },
    });
    expect((result as { unreachable?: boolean }).unreachable).toBeUndefined();
  });

  it("a call refused or timed out before any reply is an outage", async () => {
    const hung = await listen(() => {});
    closers.push(() => hung.stop());
    const slow = new HttpFunction({ config, url: `http://127.0.0.1:${hung.port}/api/inngest`, serverKind: "dev", timeoutMs: 100 });
    expect(await slow.execute(input)).toMatchObject({
      type: "function-rejected",
      unreachable: true,
      error: { message: expect.stringMatching(/timed out after 100 ms before the app answered/) },
    });
    const refused = new HttpFunction({ config, url: "http://127.0.0.1:9/api/inngest", serverKind: "dev", timeoutMs: 1_000 });
    expect(await refused.execute(input)).toMatchObject({
      type: "function-rejected",
      unreachable: true,
      error: { message: expect.stringMatching(/ECONNREFUSED/) },
    });
  });
});

describe("an app outage", () => {
  it("stopped mid-load: every run completes after it returns, no completed step re-runs, only real errors spend attempts", async () => {
    const stepwise: RunningServer = await runServer({
      mode: "dev",
      port: 0,
      db: ":memory:",
      logRuns: false,
      retryDelayScale: 0.01,
      appOutage: { minDelayMs: 50, maxDelayMs: 400 },
      logger: silentLogger,
    });
    closers.push(() => stepwise.close());
    const inngest = new Inngest({ id: "outage", isDev: true, baseUrl: stepwise.url, logger: quiet });
    const executions = new Map<string, number>();
    const count = (key: string) => executions.set(key, (executions.get(key) ?? 0) + 1);
    const fn = inngest.createFunction({ id: "work", retries: 1, triggers: [{ event: "outage/work" }] }, async ({ event, step }) => {
      const n = (event.data as { n: number }).n;
      const a = await step.run("a", async () => {
        count(`${n}:a`);
        await new Promise((r) => setTimeout(r, 20));
        return n;
      });
      const b = await step.run("b", async () => {
        count(`${n}:b`);
        // one real error per run: spends the only retry
        if (executions.get(`${n}:b`) === 1) throw new Error(`flaky ${n}`);
        await new Promise((r) => setTimeout(r, 20));
        return a + 1;
      });
      const c = await step.run("c", () => {
        count(`${n}:c`);
        return b * 2;
      });
      return c;
    });
    const handler = serve({ client: inngest, functions: [fn] });
    const app = await listen(handler);
    closers.push(() => app.stop());
    const url = `http://127.0.0.1:${app.port}/api/inngest`;
    expect((await stepwise.server.apps.sync(url)).error).toBeUndefined();

    const runs = 40;
    const { ids } = await inngest.send(Array.from({ length: runs }, (_, n) => ({ name: "outage/work", data: { n } })));
    // mid-load: some steps ran, not all runs are done
    await waitFor("the load to be under way", () => (executions.size >= 15 ? true : undefined));
    await app.stop();
    const stoppedAt = Date.now();
    const engine = stepwise.engine;
    const waiting = await waitFor("a run waiting for its app", async () => {
      for (const eventId of ids) {
        for (const run of await engine.listRuns({ eventId })) {
          const details = await engine.getRun(run.id);
          if (details?.waitingOn?.kind === "app") return details;
        }
      }
      return undefined;
    });
    expect(waiting.status).toBe("Running");
    expect(waiting.waitingOn).toMatchObject({ kind: "app", failures: expect.any(Number), reason: expect.stringMatching(/ECONNREFUSED|failed/) });
    const rest = (await (await fetch(`${stepwise.url}/v1/runs/${waiting.id}`)).json()) as { data: { waiting_on: { kind: string; until: number } } };
    expect(rest.data.waiting_on).toMatchObject({ kind: "app", until: expect.any(Number) });
    // several seconds down: far longer than the function's retries (1) would survive
    await new Promise((r) => setTimeout(r, Math.max(0, 2_500 - (Date.now() - stoppedAt))));
    const restarted = await listen(handler, app.port);
    closers.push(() => restarted.stop());

    const runIds = await waitFor("every run to be created", async () => {
      const found = (await Promise.all(ids.map((eventId) => engine.listRuns({ eventId })))).flat();
      return found.length === runs ? found.map((r) => r.id) : undefined;
    });
    const finished = await Promise.all(runIds.map((id) => engine.waitForRun(id, { timeoutMs: 30_000 })));
    for (const run of finished) {
      expect(run.status, JSON.stringify(run.error)).toBe("Completed");
      expect(run.waitingOn).toBeUndefined();
      const attempts = Object.fromEntries(run.steps.map((s) => [s.name, s.attempts]));
      expect(attempts).toEqual({ a: 1, b: 2, c: 1 });
    }
    expect(finished.map((r) => r.output).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: runs }, (_, n) => (n + 1) * 2));
    for (let n = 0; n < runs; n++) {
      expect([executions.get(`${n}:a`), executions.get(`${n}:b`), executions.get(`${n}:c`)], `run ${n}`).toEqual([1, 2, 1]);
    }
    const stored = await Promise.all(runIds.map((id) => engine.store.getRun(id)));
    expect(stored.filter((r) => r?.waitingOn)).toEqual([]);
  }, 60_000);

  it("longer than the budget: the run fails with AppUnreachableError, without spending its retries", async () => {
    const stepwise = await runServer({
      mode: "dev",
      port: 0,
      db: ":memory:",
      logRuns: false,
      retryDelayScale: 0.01,
      appOutage: { budgetMs: 600, minDelayMs: 50, maxDelayMs: 100 },
      logger: silentLogger,
    });
    closers.push(() => stepwise.close());
    const inngest = new Inngest({ id: "gone", isDev: true, baseUrl: stepwise.url, logger: quiet });
    const fn = inngest.createFunction({ id: "never", retries: 3, triggers: [{ event: "gone/work" }] }, async () => "unreachable");
    const app = await listen(serve({ client: inngest, functions: [fn] }));
    expect((await stepwise.server.apps.sync(`http://127.0.0.1:${app.port}/api/inngest`)).error).toBeUndefined();
    await app.stop();
    const { ids } = await inngest.send({ name: "gone/work", data: {} });
    const run = await waitFor("the run", async () => (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]);
    const ended = await stepwise.engine.waitForRun(run.id, { timeoutMs: 10_000 });
    expect(ended.status).toBe("Failed");
    expect(ended.error).toMatchObject({ name: "AppUnreachableError", message: expect.stringMatching(/outage budget.*ECONNREFUSED/) });
    expect(ended.endedAt as number).toBeGreaterThanOrEqual((ended.startedAt ?? ended.createdAt) + 600);
    expect(ended.waitingOn).toBeUndefined();
  }, 20_000);

  it("takes the budget from --app-outage-budget or STEPWISE_APP_OUTAGE_BUDGET, and refuses a bad one naming the flag", async () => {
    await expect(runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery", "--app-outage-budget", "soon"])).rejects.toThrow(CLIError);
    await expect(runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery"], { STEPWISE_APP_OUTAGE_BUDGET: "-5" })).rejects.toThrow(
      /--app-outage-budget/,
    );
    for (const [args, env] of [
      [["--app-outage-budget", "300"], {}],
      [[], { STEPWISE_APP_OUTAGE_BUDGET: "300ms" }],
    ] as const) {
      const stepwise = (await runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery", ...args], env)) as RunningServer;
      closers.push(() => stepwise.close());
      const inngest = new Inngest({ id: "flag", isDev: true, baseUrl: stepwise.url, logger: quiet });
      const fn = inngest.createFunction({ id: "f", triggers: [{ event: "flag/work" }] }, async () => "never");
      const app = await listen(serve({ client: inngest, functions: [fn] }));
      expect((await stepwise.server.apps.sync(`http://127.0.0.1:${app.port}/api/inngest`)).error).toBeUndefined();
      await app.stop();
      const { ids } = await inngest.send({ name: "flag/work", data: {} });
      const run = await waitFor("the run", async () => (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]);
      const ended = await stepwise.engine.waitForRun(run.id, { timeoutMs: 10_000 });
      expect(ended.error).toMatchObject({ name: "AppUnreachableError", message: expect.stringMatching(/past the 300 ms outage budget/) });
      await stepwise.close();
    }
  }, 30_000);

  it("rejects a bad outage option, naming the field", async () => {
    await expect(runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, logger: silentLogger, appOutage: { maxDelayMs: -1 } })).rejects.toThrow(
      /appOutage\.maxDelayMs/,
    );
  });
});
