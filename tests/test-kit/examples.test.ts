/**
 * The seed examples from examples/, tested with `createTestEngine`: the onboarding's
 * three-day sleep and the flaky API's real retry backoff pass on the manual clock.
 */
import { silentLogger } from "stepwise";
import { createTestEngine, InngestTestEngine, type TestEngine } from "stepwise/test";
import { afterEach, describe, expect, it } from "vitest";
import { createExampleApp } from "../../examples/app.ts";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup() {
  const app = createExampleApp({ logger: silentLogger });
  t = await createTestEngine({ client: app.client, functions: Object.values(app.functions) });
  return { ...app, t };
}

describe("examples on the test engine", () => {
  it("onboarding: the welcome email at once, the tips email after the default three days", async () => {
    const { t, services } = await setup();
    const { runIds } = await t.send({ name: "app/user.signed-up", data: { userId: "u_1" } });
    const runId = runIds[0] as string;
    expect(services.sent).toEqual([{ to: "ada@example.com", template: "welcome" }]);
    await t.advance("71h");
    expect(services.sent).toHaveLength(1);
    expect((await t.run(runId)).status).toBe("Running");
    await t.advance("1h");
    expect(services.sent).toEqual([
      { to: "ada@example.com", template: "welcome" },
      { to: "ada@example.com", template: "tips" },
    ]);
    expect(await t.run(runId)).toMatchObject({ status: "Completed", output: { onboarded: "u_1" } });
  });

  it("onboarding: an unknown user fails at once, without retries", async () => {
    const { t } = await setup();
    const { runIds } = await t.send({ name: "app/user.signed-up", data: { userId: "nobody" } });
    const run = await t.run(runIds[0] as string);
    expect(run).toMatchObject({ status: "Failed", error: { message: "user nobody does not exist" } });
    expect(run.steps[0]).toMatchObject({ name: "fetch-user", status: "Failed", attempts: 1 });
  });

  it("order flow: the parallel steps, then confirm", async () => {
    const { t, services } = await setup();
    const { runIds } = await t.send({ name: "shop/order.placed", data: { orderId: "7", items: ["a", "b", "c"], total: 12 } });
    const run = await t.run(runIds[0] as string);
    expect(run.status).toBe("Completed");
    expect(
      run.steps
        .slice(1, 4)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["charge-card", "create-label", "reserve-stock"]);
    expect(run.steps.at(-1)?.name).toBe("confirm");
    expect(services.sent).toEqual([{ to: "order-7", template: "confirmation" }]);
  });

  it("flaky sync: two failures, then success on the third attempt, with production backoff on the clock", async () => {
    const { t, flakyCalls } = await setup();
    const { runIds } = await t.send({ name: "sync/requested" });
    const runId = runIds[0] as string;
    expect(flakyCalls).toEqual({ before: 1, flaky: 1 });
    expect((await t.run(runId)).status).toBe("Running");
    const run = await t.waitForRun(runId);
    expect(run).toMatchObject({ status: "Completed", output: { ok: true, attempt: 2 } });
    expect(flakyCalls).toEqual({ before: 1, flaky: 3 });
    expect(run.steps.map((s) => [s.name, s.attempts])).toEqual([
      ["before", 1],
      ["call-flaky-api", 3],
    ]);
  });

  it("payment: a declined card fails the run at once and onFailure notifies the customer once", async () => {
    const { t, services } = await setup();
    const { runIds } = await t.send({ name: "billing/charge.requested", data: { customer: "c@example.com", card: "declined" } });
    expect(await t.run(runIds[0] as string)).toMatchObject({ status: "Failed", error: { name: "StepError", message: "card declined" } });
    const failure = await t.runs({ functionId: "charge-customer-failure" });
    expect(failure).toEqual([expect.objectContaining({ status: "Completed", output: { notified: true } })]);
    expect(services.sent).toEqual([{ to: "c@example.com", template: "payment-failed" }]);
    await t.advance("1d");
    expect(await t.runs({ functionId: "charge-customer-failure" })).toHaveLength(1);
  });
});

describe("examples on InngestTestEngine", () => {
  it("onboarding: the sleep passes, fetch-user mocked, the emails recorded by the services", async () => {
    const { functions, services } = createExampleApp({ logger: silentLogger });
    const t = new InngestTestEngine({
      function: functions.onboarding,
      events: [{ name: "app/user.signed-up", data: { userId: "u_7" } }],
      steps: [{ id: "fetch-user", handler: () => ({ id: "u_7", email: "lin@example.com", name: "Lin" }) }],
    });
    const { result, ctx } = await t.execute();
    expect(result).toEqual({ onboarded: "u_7" });
    expect(ctx.step.sleep).toHaveBeenCalledWith("wait-before-tips", "3d");
    expect(services.sent.map((m) => m.template)).toEqual(["welcome", "tips"]);
    const { step } = await t.executeStep("wait-before-tips");
    expect(step).toMatchObject({ op: "Sleep", name: "3d" });
  });

  it("payment: the onFailure handler, tested on its own with a function.failed event", async () => {
    const { functions, services } = createExampleApp({ logger: silentLogger });
    const onFailure = functions.payment.companions[0] as typeof functions.payment;
    const failed = {
      name: "inngest/function.failed",
      data: {
        function_id: "example-app-charge-customer",
        run_id: "r1",
        error: { name: "NonRetriableError", message: "card declined" },
        event: { name: "billing/charge.requested", data: { customer: "x@example.com" } },
      },
    };
    const { result } = await new InngestTestEngine({ function: onFailure, events: [failed] }).execute();
    expect(result).toEqual({ notified: true });
    expect(services.sent).toEqual([{ to: "x@example.com", template: "payment-failed" }]);
  });
});
