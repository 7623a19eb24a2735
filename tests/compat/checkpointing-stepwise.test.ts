/**
 * Stepwise's own `serve()` checkpoints the way the official SDK does when the server's
 * call carries `ctx.fn_id`/`ctx.qi_id`: consecutive steps in one request, each posted to
 * `POST /v1/checkpoint/{runId}/async`, fenced by the call's lease.
 */
import type { Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { NonRetriableError, Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordingApp } from "./recording-app.ts";

let stepwise: RunningServer;
let app: Server;
let client: Stepwise;
const realFetch = globalThis.fetch;
const calls: string[] = [];
const checkpoints: Array<{ runId: string; status: number }> = [];
const ran: Record<string, number> = {};
const count = (name: string) => (ran[name] = (ran[name] ?? 0) + 1);

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  globalThis.fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const response = await realFetch(input, init);
    const match = /\/v1\/checkpoint\/([^/]+)\/async$/.exec(url.pathname);
    if (match) checkpoints.push({ runId: decodeURIComponent(match[1] as string), status: response.status });
    return response;
  };
  client = new Stepwise({ id: "cp-own", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
  let flaky = 0;
  const functions = [
    client.createFunction({ id: "three" }, { event: "own/three" }, async ({ step }) => {
      const a = await step.run("a", () => count("a"));
      const b = await step.run("b", () => count("b") + a);
      return step.run("c", () => count("c") + b);
    }),
    client.createFunction({ id: "retry", retries: 3 }, { event: "own/retry" }, async ({ step }) => {
      const before = await step.run("before", () => count("before"));
      const flake = await step.run("flaky", () => {
        if (++flaky < 3) throw new Error(`flake ${flaky}`);
        return flaky;
      });
      await step.sleep("nap", "100ms");
      return { before, flake, after: await step.run("after", () => count("after")) };
    }),
    client.createFunction({ id: "refuse", retries: 3 }, { event: "own/refuse" }, async ({ step }) => {
      await step.run("ok", () => count("ok"));
      await step.run("no", () => {
        throw new NonRetriableError("refused");
      });
    }),
  ];
  app = recordingApp(serve({ client, functions }), (call) => calls.push((call.body as { ctx: { run_id: string } }).ctx.run_id));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  globalThis.fetch = realFetch;
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function run(name: string) {
  const { ids } = await client.send({ name, data: {} });
  for (let i = 0; i < 500; i++) {
    const [r] = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    if (r) return stepwise.engine.waitForRun(r.id, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no run for ${name}`);
}

describe("Stepwise serve() with async checkpointing", () => {
  it("runs three steps in one call, each checkpointed", async () => {
    const done = await run("own/three");
    expect(done).toMatchObject({ status: "Completed", output: 3 });
    expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ["a", "Completed", 1],
      ["b", "Completed", 1],
      ["c", "Completed", 1],
    ]);
    expect(calls.filter((id) => id === done.id)).toHaveLength(1);
    expect(checkpoints.filter((c) => c.runId === done.id)).toEqual(Array.from({ length: 3 }, () => ({ runId: done.id, status: 200 })));
    expect([ran.a, ran.b, ran.c]).toEqual([1, 1, 1]);
  });

  it("retries a failing step and sleeps, keeping checkpointed steps", async () => {
    const done = await run("own/retry");
    expect(done).toMatchObject({ status: "Completed", output: { before: 1, flake: 3, after: 1 } });
    expect(Object.fromEntries(done.steps.map((s) => [s.name, [s.status, s.attempts]]))).toMatchObject({
      before: ["Completed", 1],
      flaky: ["Completed", 3],
      nap: ["Completed", 1],
      after: ["Completed", 1],
    });
    expect([ran.before, ran.after]).toEqual([1, 1]);
  });

  it("fails at once on NonRetriableError", async () => {
    const done = await run("own/refuse");
    expect(done.status).toBe("Failed");
    expect(done.error?.message).toBe("refused");
    expect(done.steps.map((s) => [s.name, s.status])).toEqual([
      ["ok", "Completed"],
      ["no", "Failed"],
    ]);
    expect(ran.ok).toBe(1);
  });
});
