/**
 * A run's parallel phase (inngest-protocol §8.4), as Inngest's executor keeps it: once a
 * call answered more than one op, calls carry `ctx.disable_immediate_execution: true`, so
 * the official SDK plans each new step and it runs in a call of its own; the phase ends when
 * the last pending branch (a targeted step) settles, and checkpointing resumes. The SDK's
 * middleware sees the hook sequence its own integration tests expect of Inngest's dev server
 * (`middleware/parallelSteps.test.ts`, `checkpointing/resumeAfterParallelism.test.ts`).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest, Middleware } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { type ReceivedCall, recordingApp } from "./recording-app.ts";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
const calls: ReceivedCall[] = [];
const logs: string[] = [];

class Hooks extends Middleware.BaseMiddleware {
  readonly id = "hooks";
  override onMemoizationEnd() {
    logs.push("onMemoizationEnd");
  }
  override onStepStart() {
    logs.push("onStepStart");
  }
  override onStepComplete() {
    logs.push("onStepComplete");
  }
  override onRunStart() {
    logs.push("onRunStart");
  }
  override onRunComplete() {
    logs.push("onRunComplete");
  }
}

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({ id: "par", isDev: true, baseUrl: stepwise.url, middleware: [Hooks], logger: { info() {}, warn() {}, error() {}, debug() {} } });
  const fn = inngest.createFunction({ id: "fn", retries: 0, triggers: [{ event: "par/go" }] }, async ({ step }) => {
    logs.push("fn: top");
    await step.run("step-1", () => {
      logs.push("step-1: inside");
      return 1;
    });
    await Promise.all([
      step.run("step-2-a", () => {
        logs.push("step-2-a: inside");
        return "a";
      }),
      step.sleep("step-2-b", "200ms"),
    ]);
    await step.run("step-3", () => {
      logs.push("step-3: inside");
      return 3;
    });
    logs.push("fn: bottom");
    return "done";
  });
  app = recordingApp(serve({ client: inngest, functions: [fn] }), (call) => calls.push(call));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as AddressInfo).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

describe("a run that went parallel, served to the official SDK", () => {
  it("plans each later step and runs it in a call of its own, with Inngest's hook sequence", async () => {
    const { ids } = await inngest.send({ name: "par/go", data: {} });
    let status = "";
    await until(async () => {
      const [run] = await stepwise.engine.listRuns({ eventId: ids[0] as string });
      status = run?.status ?? "";
      return status === "Completed" || status === "Failed";
    }, 15_000);
    expect(status).toBe("Completed");
    const [run] = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    expect((await stepwise.engine.getRun(run?.id as string))?.parallel).toBeUndefined();

    const ctx = (c: ReceivedCall) => (c.body as { ctx: { disable_immediate_execution?: boolean } }).ctx;
    const stepOf = (c: ReceivedCall) => c.url.searchParams.get("stepId");
    // step-1 and the plan; the branch; the discovery after the sleep (still in the phase: plans
    // step-3); step-3, targeted, which ends the phase; the end, which may execute at once again
    const mine = calls.filter((c) => (c.body as { ctx: { run_id: string } }).ctx.run_id === run?.id);
    expect(mine.map((c) => ctx(c).disable_immediate_execution)).toEqual([false, true, true, true, false]);
    // step-3 ran in a call that targeted it
    const step3 = (await stepwise.engine.getRun(run?.id as string))?.steps.find((s) => s.name === "step-3");
    expect(mine.filter((c) => stepOf(c) === step3?.id)).toHaveLength(1);

    expect(logs).toEqual([
      // 1st call
      "onMemoizationEnd",
      "onRunStart",
      "fn: top",
      "onStepStart",
      "step-1: inside",
      "onStepComplete",
      // 2nd: the parallel step the plan targets
      "fn: top",
      "onMemoizationEnd",
      "onStepStart",
      "step-2-a: inside",
      "onStepComplete",
      // 3rd: the sleep ended; discovery plans step-3
      "fn: top",
      "onMemoizationEnd",
      // 4th: step-3, targeted
      "fn: top",
      "onMemoizationEnd",
      "onStepStart",
      "step-3: inside",
      "onStepComplete",
      // 5th: the end
      "fn: top",
      "onMemoizationEnd",
      "fn: bottom",
      "onRunComplete",
    ]);
  }, 30_000);
});
