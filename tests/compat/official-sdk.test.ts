/**
 * The official `inngest` SDK (v4), the client no one here wrote, served on loopback with
 * its own node adapter and synced by a Stepwise dev server: every feature end to end.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
const effects: string[] = [];
let flaky = 0;

function defineFunctions(client: Inngest) {
  const child = client.createFunction({ id: "child", triggers: [] }, async ({ event, step }) =>
    step.run("double", () => Number((event.data as { n?: number }).n) * 2),
  );
  return [
    child,
    client.createFunction({ id: "basics", retries: 3, triggers: [{ event: "compat/basics" }] }, async ({ event, step }) => {
      const greeting = await step.run("greet", () => `hi ${event.data.name}`);
      const [a, b] = await Promise.all([step.run("left", () => 1), step.run("right", () => 2)]);
      await step.sleep("nap", "1s");
      const retried = await step.run("flaky", () => {
        if (++flaky < 3) throw new Error(`flake ${flaky}`);
        return flaky;
      });
      const doubled = await step.invoke("call-child", { function: child, data: { n: 21 } });
      return { greeting, a, b, retried, doubled };
    }),
    client.createFunction({ id: "non-retriable", triggers: [{ event: "compat/nr" }] }, async ({ step }) => {
      await step.run("refuse", () => {
        throw new NonRetriableError("nope");
      });
    }),
    client.createFunction(
      {
        id: "with-failure",
        retries: 0,
        onFailure: async ({ error, step }) => {
          await step.run("record", () => effects.push(`onFailure: ${error.message}`));
        },
        triggers: [{ event: "compat/fail" }],
      },
      async () => {
        throw new Error("handler broke");
      },
    ),
    client.createFunction({ id: "waiter", triggers: [{ event: "compat/order" }] }, async ({ step }) => {
      const label = await step.waitForEvent("label", { event: "compat/label", match: "data.orderId", timeout: "5s" });
      return label?.data ?? null;
    }),
    client.createFunction({ id: "short-wait", triggers: [{ event: "compat/short" }] }, async ({ step }) => {
      return step.waitForEvent("never", { event: "compat/never", timeout: "1s" });
    }),
    client.createFunction({ id: "fan-out", triggers: [{ event: "compat/fan" }] }, async ({ step }) => {
      return step.sendEvent("send", [
        { name: "compat/fanned", data: { n: 1 } },
        { name: "compat/fanned", data: { n: 2 } },
      ]);
    }),
    client.createFunction({ id: "fanned", triggers: [{ event: "compat/fanned" }] }, async ({ event }) => {
      effects.push(`fanned ${event.data.n}`);
      return event.data.n;
    }),
    client.createFunction({ id: "signal-waiter", triggers: [{ event: "compat/signal" }] }, async ({ step }) => {
      return step.waitForSignal("go", { signal: "compat-go", timeout: "1h", onConflict: "replace" });
    }),
    client.createFunction(
      { id: "cancellable", cancelOn: [{ event: "compat/stop", match: "data.id" }], triggers: [{ event: "compat/start" }] },
      async ({ step }) => {
        await step.sleep("long", "1h");
        return "not cancelled";
      },
    ),
  ];
}

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({ id: "compat", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  app = createServer(serve({ client: inngest, functions: defineFunctions(inngest) }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const url = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;
  const record = await stepwise.server.apps.sync(url);
  expect(record.error).toBeUndefined();
  expect(record.functionIds.sort()).toContain("compat-with-failure-failure");
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function runOf(eventId: string | undefined, functionId?: string) {
  for (let i = 0; i < 500; i++) {
    const runs = await stepwise.engine.listRuns({ eventId: eventId as string });
    const run = functionId ? runs.find((r) => r.functionId === functionId) : runs[0];
    if (run) return run;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no run for event ${eventId}`);
}

describe("official inngest SDK against stepwise dev", () => {
  it("runs steps, parallel steps, a sleep, retries then success, and invoke", async () => {
    const { ids } = await inngest.send({ name: "compat/basics", data: { name: "ada" } });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 20_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ greeting: "hi ada", a: 1, b: 2, retried: 3, doubled: 42 });
    expect(Object.fromEntries(run.steps.map((s) => [s.name, [s.status, s.attempts]]))).toMatchObject({
      greet: ["Completed", 1],
      left: ["Completed", 1],
      right: ["Completed", 1],
      nap: ["Completed", 1],
      flaky: ["Completed", 3],
      "call-child": ["Completed", 1],
    });
  }, 30_000);

  it("fails at once on NonRetriableError", async () => {
    const { ids } = await inngest.send({ name: "compat/nr" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toBe("nope");
    expect(run.steps[0]).toMatchObject({ name: "refuse", status: "Failed", attempts: 1 });
  });

  it("runs onFailure once when a run fails", async () => {
    const { ids } = await inngest.send({ name: "compat/fail" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    await until(() => effects.includes("onFailure: handler broke"));
    const failureRuns = await stepwise.engine.listRuns({ functionId: "compat-with-failure-failure" });
    expect(failureRuns).toHaveLength(1);
    await until(async () => (await stepwise.engine.getRun(failureRuns[0]!.id))?.status === "Completed");
    expect(effects.filter((e) => e.startsWith("onFailure"))).toEqual(["onFailure: handler broke"]);
  });

  it("waitForEvent resumes on the matching event and returns null on timeout", async () => {
    const order = await inngest.send({ name: "compat/order", data: { orderId: "o-7" } });
    const short = await inngest.send({ name: "compat/short" });
    const waiting = await runOf(order.ids[0]);
    await until(async () => (await stepwise.engine.getRun(waiting.id))?.steps.some((s) => s.status === "Waiting") ?? false);
    await inngest.send({ name: "compat/label", data: { orderId: "o-8", tracking: "wrong" } });
    await inngest.send({ name: "compat/label", data: { orderId: "o-7", tracking: "T-1" } });
    const matched = await stepwise.engine.waitForRun(waiting.id, { timeoutMs: 10_000 });
    expect(matched.output).toEqual({ orderId: "o-7", tracking: "T-1" });
    const timedOut = await stepwise.engine.waitForRun((await runOf(short.ids[0])).id, { timeoutMs: 10_000 });
    expect(timedOut).toMatchObject({ status: "Completed", output: null });
  });

  it("sendEvent fans out to other functions", async () => {
    const { ids } = await inngest.send({ name: "compat/fan" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 10_000 });
    expect((run.output as { ids: string[] }).ids).toHaveLength(2);
    await until(() => effects.filter((e) => e.startsWith("fanned")).length === 2);
    expect(effects.filter((e) => e.startsWith("fanned")).sort()).toEqual(["fanned 1", "fanned 2"]);
  });

  it("cancelOn cancels a sleeping run", async () => {
    const { ids } = await inngest.send({ name: "compat/start", data: { id: "c-1" } });
    const sleeping = await runOf(ids[0]);
    await until(async () => (await stepwise.engine.getRun(sleeping.id))?.steps.some((s) => s.status === "Sleeping") ?? false);
    await inngest.send({ name: "compat/stop", data: { id: "c-1" } });
    const run = await stepwise.engine.waitForRun(sleeping.id, { timeoutMs: 10_000 });
    expect(run.status).toBe("Cancelled");
  });

  it("waitForSignal resumes when the official SDK sends the signal", async () => {
    const { ids } = await inngest.send({ name: "compat/signal" });
    const waiting = await runOf(ids[0]);
    await until(async () => (await stepwise.engine.getRun(waiting.id))?.steps.some((s) => s.status === "Waiting") ?? false);
    await inngest.sendSignal({ signal: "compat-go", data: { ok: true } });
    const run = await stepwise.engine.waitForRun(waiting.id, { timeoutMs: 10_000 });
    expect(run.output).toMatchObject({ signal: "compat-go", data: { ok: true } });
  });
});
