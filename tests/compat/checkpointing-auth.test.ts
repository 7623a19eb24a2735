/**
 * The checkpoint API under `stepwise start`: the same credential as `/v0` and `/v1` (the
 * signing key's hashed bearer), and the official SDK in cloud mode checkpointing with it.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
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
});
