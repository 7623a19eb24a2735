/**
 * The checkpoint API under `stepwise start`: the same credential as `/v0` and `/v1` (the
 * signing key's hashed bearer), and the official SDK in cloud mode checkpointing with it.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { Inngest, step } from "inngest";
import { endpointAdapter } from "inngest/edge";
import { serve } from "inngest/node";
import { afterAll, describe, expect, it } from "vitest";

const signingKey = "signkey-test-1f2e3d4c5b6a798877665544332211ffeeddccbbaa99887766554433221100ff";
let stepwise: RunningServer | undefined;
let app: Server | undefined;
const realFetch = globalThis.fetch;

afterAll(async () => {
  globalThis.fetch = realFetch;
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("checkpoint routes in start mode", () => {
  it("refuse requests without the credential and accept the SDK's signed checkpoints", async () => {
    stepwise = await runServer({
      mode: "start",
      port: 0,
      db: ":memory:",
      signingKey,
      eventKey: "evt-cp",
      dashboardToken: "dash-cp-secret",
      logRuns: false,
      logger: silentLogger,
    });
    const body = JSON.stringify({ run_id: "r1", fn_id: "f", qi_id: "item.1", steps: [] });
    for (const path of ["/v1/checkpoint/r1/async", "/v1/checkpoint/r1/steps", "/v1/checkpoint"]) {
      const anonymous = await realFetch(`${stepwise.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(anonymous.status).toBe(401);
    }
    const authed = await realFetch(`${stepwise.url}/v1/checkpoint/r1/async`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${hashSigningKey(signingKey)}` },
      body,
    });
    expect(authed.status).toBe(409); // past authentication: no such call in flight

    const statuses: number[] = [];
    globalThis.fetch = async (input, init) => {
      const response = await realFetch(input, init);
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      if (url.pathname.endsWith("/async")) statuses.push(response.status);
      return response;
    };
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const inngest = new Inngest({ id: "cp-signed", isDev: false, baseUrl: stepwise.url, signingKey, eventKey: "evt-cp", logger: quiet });
    const fn = inngest.createFunction({ id: "two", triggers: [{ event: "cp-signed/go" }] }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      return step.run("b", () => a + 1);
    });
    app = createServer(serve({ client: inngest, functions: [fn] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
    expect(record.error).toBeUndefined();
    const { ids } = await inngest.send({ name: "cp-signed/go", data: {} });
    let runId: string | undefined;
    for (let i = 0; i < 500 && !runId; i++) {
      runId = (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]?.id;
      if (!runId) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const run = await stepwise.engine.waitForRun(runId as string, { timeoutMs: 10_000 });
    expect(run).toMatchObject({ status: "Completed", output: 2 });
    expect(statuses).toEqual([200, 200]);
  }, 30_000);

  it("continue a durable endpoint that went async with signed re-entries, at an allowed origin, its output read with the run's token", async () => {
    let handler: (req: Request) => Promise<Response> = async () => new Response("not ready", { status: 503 });
    let reentries = 0;
    const endpointApp = createServer(async (req, res) => {
      if (req.headers["x-run-id"]) reentries++;
      const headers = Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : []));
      const out = await handler(new Request(`http://127.0.0.1:${(endpointApp.address() as { port: number }).port}${req.url}`, { headers }));
      res.writeHead(out.status, Object.fromEntries(out.headers));
      res.end(Buffer.from(await out.arrayBuffer()));
    });
    await new Promise<void>((resolve) => endpointApp.listen(0, "127.0.0.1", () => resolve()));
    const origin = `http://127.0.0.1:${(endpointApp.address() as { port: number }).port}`;
    const server = await runServer({
      mode: "start",
      port: 0,
      db: ":memory:",
      signingKey,
      eventKey: "evt-cp",
      dashboardToken: "dash-ep-secret",
      endpointOrigins: [origin],
      logRuns: false,
      logger: silentLogger,
    });
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const inngest = new Inngest({ id: "ep-signed", isDev: false, baseUrl: server.url, signingKey, eventKey: "evt-cp", endpointAdapter, logger: quiet });
    let ran = 0;
    handler = inngest.endpoint(async () => {
      const n = await step.run("one", () => ++ran);
      await step.sleep("pause", "100ms");
      return { n };
    }) as unknown as (req: Request) => Promise<Response>;
    try {
      const response = await realFetch(`${origin}/api/signed`, { redirect: "manual" });
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") as string);
      const runId = location.pathname.split("/")[4] as string;
      const run = await server.engine.waitForRun(runId, { timeoutMs: 10_000 });
      expect(run).toMatchObject({ status: "Completed" });
      expect(ran).toBe(1);
      expect(reentries).toBeGreaterThanOrEqual(1);
      // the redirected client holds no credential, only the run's token
      const output = await realFetch(location.href);
      expect(output.status).toBe(200);
      expect(await output.json()).toMatchObject({ status: 200 });
      const forged = await realFetch(`${server.url}/v1/http/runs/${runId}/output?token=forged`);
      expect(forged.status).toBe(401);
      const listing = await realFetch(`${server.url}/v1/runs/${runId}`);
      expect(listing.status).toBe(401); // the rest of /v1 still needs the credential
    } finally {
      await server.close();
      await new Promise<void>((resolve) => endpointApp.close(() => resolve()));
    }
  }, 30_000);
});
