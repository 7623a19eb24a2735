/**
 * Cancellation of a served run while its step runs in the app (official SDK v4): the
 * engine cannot reach into the app, so the step finishes, and at the call's next contact
 * (its checkpoint or its answer) the result is discarded and the run stays Cancelled;
 * no later step runs and the app is not called again for the run. (Code after the step,
 * up to the next step, may still run in the app: the SDK resumes the handler as it
 * checkpoints.)
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { type ReceivedCall, recordingApp } from "./recording-app.ts";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
const calls: ReceivedCall[] = [];
const gates = new Map<string, () => void>();
const started = new Set<string>();
/** Runs whose second step ran in the app. */
const after: string[] = [];

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({ id: "cxl", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  const fn = inngest.createFunction(
    { id: "blocking", retries: 0, cancelOn: [{ event: "cxl/stop", match: "data.k" }], triggers: [{ event: "cxl/start" }] },
    async ({ event, step }) => {
      const k = String(event.data.k);
      await step.run("block", async () => {
        started.add(k);
        await new Promise<void>((resolve) => gates.set(k, resolve));
        return `finished ${k}`;
      });
      await step.run("next", () => after.push(k));
      return "not cancelled";
    },
  );
  app = recordingApp(serve({ client: inngest, functions: [fn] }), (call) => calls.push(call));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as AddressInfo).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  for (const open of gates.values()) open();
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function startBlocked(k: string) {
  const { ids } = await inngest.send({ name: "cxl/start", data: { k } });
  let runId = "";
  await until(async () => {
    runId = (await stepwise.engine.listRuns({ eventId: ids[0] as string }))[0]?.id ?? "";
    return runId !== "" && started.has(k);
  });
  expect(started.has(k)).toBe(true);
  return runId;
}

/** Opens the step's gate, then waits until the app's call for the run is over. */
async function finishStep(k: string, runId: string) {
  const before = calls.filter((c) => (c.body as { ctx: { run_id: string } }).ctx.run_id === runId).length;
  gates.get(k)?.();
  // the SDK's answer (or checkpoint) has reached the server once nothing is in flight
  await until(async () => (await stepwise.engine.store.queueStats(Date.now())).leased === 0);
  await new Promise((r) => setTimeout(r, 300));
  const run = await stepwise.engine.getRun(runId);
  expect(run?.status).toBe("Cancelled");
  expect(run?.steps.some((s) => s.name === "block" && s.status === "Completed")).toBe(false);
  expect(after).not.toContain(k);
  // no later call of the run
  expect(calls.filter((c) => (c.body as { ctx: { run_id: string } }).ctx.run_id === runId)).toHaveLength(before);
}

describe("cancelling a served run mid-step", () => {
  it("REST cancel (DELETE /v1/runs/:id): the step's result is discarded at the next contact", async () => {
    const runId = await startBlocked("rest");
    const response = await fetch(`${stepwise.url}/v1/runs/${runId}`, { method: "DELETE" });
    expect(response.status).toBe(200);
    await finishStep("rest", runId);
  }, 20_000);

  it("bulk cancel (POST /v1/runs/cancel)", async () => {
    const runId = await startBlocked("bulk");
    const response = await fetch(`${stepwise.url}/v1/runs/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ function_id: "cxl-blocking" }),
    });
    expect(((await response.json()) as { data: { cancelled: number } }).data.cancelled).toBe(1);
    await finishStep("bulk", runId);
  }, 20_000);

  it("a cancelOn match", async () => {
    const runId = await startBlocked("event");
    await inngest.send({ name: "cxl/stop", data: { k: "event" } });
    await until(async () => (await stepwise.engine.getRun(runId))?.status === "Cancelled");
    await finishStep("event", runId);
  }, 20_000);
});
