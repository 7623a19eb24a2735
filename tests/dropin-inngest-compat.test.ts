/**
 * Drop-in behaviour for code written against the Inngest SDK: long-form durations,
 * the `checkpointing` function option, and Inngest's wording for a missing invoke target.
 */
import { type StepError, Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { pollUntil, runsOf, sendAndWait, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "d", logger: silentLogger });

describe("durations in the ms library's long forms", () => {
  it('step.sleep("wait", "3 days") sleeps three days instead of failing the run', async () => {
    const c = client();
    const fn = c.createFunction({ id: "patient" }, { event: "d/patient" }, async ({ step }) => {
      await step.sleep("wait", "3 days");
      return "awake";
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const before = Date.now();
    const { ids } = await c.send({ name: "d/patient" });
    const [run] = await runsOf(engine, ids[0]);
    const state = await pollUntil(
      () => engine.getRun(run!.id),
      (r) => ["Completed", "Failed", "Cancelled"].includes(r?.status ?? "") || (r?.steps.some((s) => s.status === "Sleeping") ?? false),
    );
    expect(state?.status).toBe("Running");
    const sleep = state?.steps.find((s) => s.status === "Sleeping");
    expect(sleep?.wakeAt).toBeGreaterThanOrEqual(before + 3 * 86_400_000);
    expect(sleep?.wakeAt).toBeLessThan(Date.now() + 3 * 86_400_000 + 1_000);
  });

  it('the Sleep op names the duration in canonical form ("3 days" → "3d"), as the official SDK does', async () => {
    const fn = client().createFunction({ id: "op" }, { event: "d/op" }, async ({ step }) => {
      await step.sleep("wait", "3 days");
    });
    const event = { id: "e", name: "d/op", data: {}, user: {}, ts: 0 };
    const result = await fn.execute({ runId: "r", event, events: [event], memo: new Map(), attempt: 0, maxAttempts: 1 });
    expect(result).toMatchObject({ type: "steps", ops: [{ op: "Sleep", name: "3d" }] });
  });

  it("long forms run to completion and work in flow-control options", async () => {
    const c = client();
    const fn = c.createFunction(
      { id: "short", timeouts: { finish: "2 minutes" }, throttle: { limit: 5, period: "10 secs" } },
      { event: "d/short" },
      async ({ step }) => {
        await step.sleep("brief", "50 ms");
        await step.sleep("briefer", "0.01 secs");
        return "done";
      },
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "d/short" });
    expect(run).toMatchObject({ status: "Completed", output: "done" });
  });

  it("still fails the run on garbage, with the same clear error", async () => {
    const c = client();
    const fn = c.createFunction({ id: "confused", retries: 0 }, { event: "d/confused" }, async ({ step }) => step.sleep("wait", "3 fortnights"));
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "d/confused" });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/cannot parse duration "3 fortnights"/);
  });
});

describe("the checkpointing option", () => {
  it("is accepted in every shape Inngest's SDK takes and kept in the function config", () => {
    const c = client();
    const handler = async () => "ok";
    expect(c.createFunction({ id: "cp-default" }, [], handler).config.checkpointing).toBeUndefined();
    expect(c.createFunction({ id: "cp-on", checkpointing: true }, [], handler).config.checkpointing).toBe(true);
    expect(c.createFunction({ id: "cp-off", checkpointing: false }, [], handler).config.checkpointing).toBe(false);
    const tuned = c.createFunction({ id: "cp-tuned", checkpointing: { maxRuntime: "10s", bufferedSteps: 2, maxInterval: 500 } }, [], handler);
    expect(tuned.config.checkpointing).toEqual({ maxRuntime: "10s", bufferedSteps: 2, maxInterval: 500 });
    expect(c.createFunction({ id: "cp-zero", checkpointing: { maxRuntime: 0 } }, [], handler).config.checkpointing).toEqual({ maxRuntime: 0 });
  });

  it("is validated, naming the function and the field", () => {
    const c = client();
    const handler = async () => "ok";
    const bad = (checkpointing: unknown) => () => c.createFunction({ id: "cp-bad", checkpointing } as never, [], handler);
    expect(bad("yes")).toThrow(/function "cp-bad": checkpointing: expected true, false or \{ maxRuntime, bufferedSteps, maxInterval \}/);
    expect(bad({ maxRuntime: "soon" })).toThrow(/function "cp-bad": checkpointing.maxRuntime: cannot parse duration "soon"/);
    expect(bad({ bufferedSteps: 0 })).toThrow(/function "cp-bad": checkpointing.bufferedSteps: expected a positive integer/);
    expect(bad({ maxInterval: -1 })).toThrow(/function "cp-bad": checkpointing.maxInterval:/);
    expect(bad({ bufferSteps: 2 })).toThrow(/function "cp-bad": checkpointing: unknown option "bufferSteps"/);
  });

  it("a function with checkpointing options runs as any other", async () => {
    const c = client();
    const fn = c.createFunction({ id: "cp-run", checkpointing: { maxRuntime: "30 seconds", bufferedSteps: 3 } }, { event: "d/cp" }, async ({ step }) => {
      const a = await step.run("a", () => 1);
      const b = await step.run("b", () => 2);
      return a + b;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "d/cp" });
    expect(run).toMatchObject({ status: "Completed", output: 3 });
  });
});

describe("step.invoke of a missing function", () => {
  it("uses Inngest's wording and names the function id", async () => {
    const c = client();
    const fn = c.createFunction({ id: "lonely" }, { event: "d/lonely" }, async ({ step }) => {
      try {
        await step.invoke("ghost", { function: "d-ghost" });
      } catch (error) {
        return (error as StepError).message;
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "d/lonely" });
    expect(run.output).toMatch(/^Could not find function with ID "d-ghost"/);
  });

  it("engine.invoke of a missing function says it in the same words", async () => {
    const { engine } = await startEngine();
    await expect(engine.invoke("d-ghost")).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining('Could not find function with ID "d-ghost"'),
    });
  });
});
