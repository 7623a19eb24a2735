/**
 * `defer()` with our SDK served by `serve()` (node adapter) to a Stepwise dev server: the
 * same function code as in-process; defers ride along the return, a step, or an error.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { createDefer, NonRetriableError, Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";

let stepwise: RunningServer;
let app: Server;
let client: Stepwise;
const seen: string[] = [];

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  client = new Stepwise({ id: "sdfr", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
  const notify = createDefer<{ tag: string }>(client, { id: "notify" }, async ({ event, parents }) => {
    seen.push(`${event.data.tag} from ${parents[0]?.fnSlug}`);
    return event.data.tag;
  });
  const functions = [
    notify,
    client.createFunction({ id: "with-step" }, { event: "s/step" }, async ({ step, defer }) => {
      const dropped = defer("dropped", { function: notify, data: { tag: "dropped" } });
      defer("kept", { function: notify, data: { tag: "kept" } });
      await step.run("one", () => 1);
      dropped.abort();
      await step.sleep("nap", "20ms");
      return "ok";
    }),
    client.createFunction({ id: "at-return" }, { event: "s/return" }, async ({ defer }) => {
      defer("on-return", { function: notify, data: { tag: "on-return" } });
      return "returned";
    }),
    client.createFunction({ id: "ordered", retries: 0 }, { event: "s/ordered" }, async ({ step }) =>
      step.sendEvent("send", [{ name: "s/none" }, { name: "s/none" }], { order: "preserve" }),
    ),
    client.createFunction({ id: "on-error", retries: 0 }, { event: "s/error" }, async ({ defer }) => {
      defer("on-error", { function: notify, data: { tag: "on-error" } });
      throw new NonRetriableError("broke");
    }),
  ];
  app = createServer(serve({ client, functions }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as AddressInfo).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function parentAndChildren(name: string, count: number) {
  const { ids } = await client.send({ name });
  let runId = "";
  await until(async () => {
    runId = (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]?.id ?? "";
    return runId !== "";
  });
  const parent = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
  let children = await stepwise.engine.listRuns({ parentRunId: runId });
  await until(async () => {
    children = await stepwise.engine.listRuns({ parentRunId: runId });
    return children.length >= count && children.every((c) => c.status === "Completed");
  });
  return { parent, children };
}

describe("defer with our SDK, served", () => {
  it("records defers shipped with a step, drops the aborted one, and starts the rest after the run", async () => {
    const { parent, children } = await parentAndChildren("s/step", 1);
    expect(parent.status).toBe("Completed");
    expect(children.map((c) => c.output)).toEqual(["kept"]);
    expect(seen).toContain("kept from sdfr-with-step");
    expect(seen).not.toContain("dropped from sdfr-with-step");
  }, 20_000);

  it("a defer riding along the return or a final error still starts", async () => {
    const returned = await parentAndChildren("s/return", 1);
    expect(returned.parent).toMatchObject({ status: "Completed", output: "returned" });
    expect(returned.children.map((c) => c.output)).toEqual(["on-return"]);
    const failed = await parentAndChildren("s/error", 1);
    expect(failed.parent.status).toBe("Failed");
    expect(failed.parent.error?.message).toBe("broke");
    expect(failed.children.map((c) => c.output)).toEqual(["on-error"]);
  }, 20_000);

  it("step.sendEvent with order: preserve fails the step with a clear message when served", async () => {
    const { ids } = await client.send({ name: "s/ordered" });
    let runId = "";
    await until(async () => {
      runId = (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]?.id ?? "";
      return runId !== "";
    });
    const run = await stepwise.engine.waitForRun(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(JSON.stringify(run.steps.find((s) => s.name === "send")?.error)).toMatch(/needs the in-process engine/);
  }, 20_000);
});
