/**
 * The seed examples from examples/, run on a real SQLite file.
 */
import { silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { createExampleApp } from "../examples/app.ts";
import { sendAndWait, startEngine } from "./helpers.ts";

async function setup() {
  const app = createExampleApp({ logger: silentLogger });
  const { engine } = await startEngine({ client: app.client, functions: Object.values(app.functions) });
  return { ...app, engine };
}

describe("examples", () => {
  it("onboarding: fetch user, welcome email, sleep, tips", async () => {
    const { engine, client, services } = await setup();
    const run = await sendAndWait(engine, client, { name: "app/user.signed-up", data: { userId: "u_2", tipsDelay: "150ms" } });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ onboarded: "u_2" });
    expect(run.steps.map((s) => [s.name, s.status])).toEqual([
      ["fetch-user", "Completed"],
      ["send-welcome-email", "Completed"],
      ["wait-before-tips", "Completed"],
      ["send-tips-email", "Completed"],
    ]);
    const sleep = run.steps[2]!;
    expect(sleep.endedAt! - sleep.startedAt!).toBeGreaterThanOrEqual(150);
    expect(services.sent).toEqual([
      { to: "grace@example.com", template: "welcome" },
      { to: "grace@example.com", template: "tips" },
    ]);
  });

  it("onboarding: an unknown user fails at once without retries", async () => {
    const { engine, client } = await setup();
    const run = await sendAndWait(engine, client, { name: "app/user.signed-up", data: { userId: "nobody" } });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toBe("user nobody does not exist");
    expect(run.steps[0]).toMatchObject({ name: "fetch-user", status: "Failed", attempts: 1 });
  });

  it("order flow: parallel steps run as separate units, then confirm", async () => {
    const { engine, client, services } = await setup();
    const run = await sendAndWait(engine, client, { name: "shop/order.placed", data: { orderId: "7", items: ["a", "b", "c"], total: 12 } });
    expect(run.status).toBe("Completed");
    expect(
      run.steps
        .map((s) => s.name)
        .slice(1, 4)
        .sort(),
    ).toEqual(["charge-card", "create-label", "reserve-stock"]);
    expect(run.steps.at(-1)?.name).toBe("confirm");
    expect(run.steps.find((s) => s.name === "reserve-stock")?.output).toEqual({ reserved: 3 });
    // The Date came back as its ISO string, as JSON has it.
    expect(typeof (run.output as { chargedAt: unknown }).chargedAt).toBe("string");
    expect(services.sent).toEqual([{ to: "order-7", template: "confirmation" }]);
  });

  it("a step that fails twice then succeeds is retried alone", async () => {
    const { engine, client, flakyCalls } = await setup();
    const run = await sendAndWait(engine, client, { name: "sync/requested" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ ok: true, attempt: 2 });
    expect(flakyCalls).toEqual({ before: 1, flaky: 3 });
    expect(run.steps.map((s) => [s.name, s.attempts])).toEqual([
      ["before", 1],
      ["call-flaky-api", 3],
    ]);
  });

  it("NonRetriableError fails the run at once and onFailure runs exactly once", async () => {
    const { engine, client, services } = await setup();
    const run = await sendAndWait(engine, client, { name: "billing/charge.requested", data: { customer: "c@example.com", card: "declined" } });
    expect(run.status).toBe("Failed");
    expect(run.steps[0]).toMatchObject({ name: "charge", status: "Failed", attempts: 1 });
    expect(run.error).toMatchObject({ name: "StepError", message: "card declined" });
    const deadline = Date.now() + 5_000;
    let failureRuns = await engine.listRuns({ functionId: "example-app-charge-customer-failure" });
    while (failureRuns[0]?.status !== "Completed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      failureRuns = await engine.listRuns({ functionId: "example-app-charge-customer-failure" });
    }
    expect(failureRuns).toHaveLength(1);
    expect(failureRuns[0]).toMatchObject({ status: "Completed", output: { notified: true } });
    await new Promise((r) => setTimeout(r, 100));
    expect(services.sent.filter((m) => m.template === "payment-failed")).toEqual([{ to: "c@example.com", template: "payment-failed" }]);
    expect(await engine.listRuns({ functionId: "example-app-charge-customer-failure" })).toHaveLength(1);
  });
});
