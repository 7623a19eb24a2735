/**
 * Errors and retries: StepError, NonRetriableError, RetryAfterError, function-level
 * retries, system events, limits on results.
 */
import { NonRetriableError, RetryAfterError, StepError, Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { sendAndWait, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "t", logger: silentLogger });

describe("errors and retries", () => {
  it("throws a catchable StepError once a step's retries are used up", async () => {
    const c = client();
    let calls = 0;
    const fn = c.createFunction({ id: "catch", retries: 2 }, { event: "t/catch" }, async ({ step }) => {
      try {
        await step.run("always-fails", () => {
          calls++;
          throw new TypeError(`bad ${calls}`);
        });
      } catch (error) {
        if (!(error instanceof StepError)) throw error;
        return { caught: error.name, message: error.message, cause: (error.cause as Error).name, step: error.stepId };
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/catch" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ caught: "StepError", message: "bad 3", cause: "TypeError", step: "always-fails" });
    expect(calls).toBe(3);
    expect(run.steps[0]).toMatchObject({ status: "Failed", attempts: 3, error: { name: "TypeError", message: "bad 3" } });
  });

  it("an uncaught StepError fails the run without further retries", async () => {
    const c = client();
    let handlerCalls = 0;
    const fn = c.createFunction({ id: "uncaught", retries: 1 }, { event: "t/uncaught" }, async ({ step }) => {
      handlerCalls++;
      await step.run("fails", () => {
        throw new Error("nope");
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/uncaught" });
    expect(run.status).toBe("Failed");
    expect(run.error).toMatchObject({ name: "StepError", message: "nope" });
    // two calls: the second's final step failure is thrown into the handler in that same call
    expect(handlerCalls).toBe(2);
    expect(run.steps[0]).toMatchObject({ status: "Failed", attempts: 2 });
  });

  it("retries an error thrown outside steps, then fails and emits inngest/function.failed", async () => {
    const c = client();
    let calls = 0;
    const fn = c.createFunction({ id: "outside", retries: 2 }, { event: "t/outside" }, async () => {
      calls++;
      throw new Error("handler broke");
    });
    const failures: unknown[] = [];
    const watcher = c.createFunction({ id: "watcher" }, { event: "inngest/function.failed" }, async ({ event }) => {
      failures.push(event.data);
      return event.data;
    });
    const { engine } = await startEngine({ client: c, functions: [fn, watcher] });
    const run = await sendAndWait(engine, c, { name: "t/outside", data: { k: 1 } });
    expect(run.status).toBe("Failed");
    expect(run.error).toMatchObject({ name: "Error", message: "handler broke" });
    expect(calls).toBe(3);
    const deadline = Date.now() + 5_000;
    while (failures.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(failures).toEqual([
      expect.objectContaining({
        function_id: "t-outside",
        run_id: run.id,
        error: expect.objectContaining({ message: "handler broke" }),
        event: expect.objectContaining({ name: "t/outside", data: { k: 1 } }),
      }),
    ]);
  });

  it("NonRetriableError thrown in the handler fails at once", async () => {
    const c = client();
    let calls = 0;
    const fn = c.createFunction({ id: "nr" }, { event: "t/nr" }, async () => {
      calls++;
      throw new NonRetriableError("stop");
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/nr" });
    expect(run).toMatchObject({ status: "Failed", error: { name: "NonRetriableError", message: "stop" } });
    expect(calls).toBe(1);
  });

  it("RetryAfterError sets when the next attempt runs", async () => {
    const c = client();
    const times: number[] = [];
    const fn = c.createFunction({ id: "later" }, { event: "t/later" }, async ({ step }) => {
      return step.run("rate-limited", () => {
        times.push(Date.now());
        if (times.length === 1) throw new RetryAfterError("429", "20s");
        return "done";
      });
    });
    // scale 0.01: the 20 s asked for becomes 200 ms; plain backoff would be ~10 ms.
    const { engine } = await startEngine({ client: c, functions: [fn], retryDelayScale: 0.01 });
    const run = await sendAndWait(engine, c, { name: "t/later" });
    expect(run.output).toBe("done");
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(190);
  });

  it("RetryAfterError dates its retry with the engine's clock (a manual clock moves it)", async () => {
    const c = client();
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const times: number[] = [];
    const fn = c.createFunction({ id: "later-manual" }, { event: "t/later-manual" }, async ({ step }) => {
      return step.run("rate-limited", () => {
        times.push(clock.now());
        if (times.length === 1) throw new RetryAfterError("429", "20s");
        return "done";
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn], clock, retryDelayScale: 1 });
    const { ids } = await c.send({ name: "t/later-manual" });
    const [run] = await engine.listRuns({ eventId: ids[0] });
    await until(async () => (await engine.getRun(run!.id))?.steps[0]?.status === "Errored");
    clock.advance(19_999);
    clock.advance(1);
    const ended = await engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    expect(ended.output).toBe("done");
    // the retry ran only once the clock reached the 20 s, not a wall-clock 20 s from now
    expect(times.map((t) => t - times[0]!)).toEqual([0, 20_000]);
  });

  it("a non-serializable step result fails that step with a clear error", async () => {
    const c = client();
    const fn = c.createFunction({ id: "bigint" }, { event: "t/bigint" }, async ({ step }) => {
      try {
        await step.run("returns-bigint", () => ({ n: 10n }));
      } catch (error) {
        return (error as StepError).message;
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/bigint" });
    expect(run.output).toMatch(/step "returns-bigint" returned a value that is not JSON-serializable/);
    expect(run.steps[0]).toMatchObject({ status: "Failed", attempts: 1 });
  });

  it("a step result over 4 MB fails that step, naming the sizes", async () => {
    const c = client();
    const fn = c.createFunction({ id: "huge" }, { event: "t/huge" }, async ({ step }) => {
      await step.run("huge", () => "x".repeat(5 * 1024 * 1024));
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/huge" });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/step "huge" returned 5.0 MB; the limit for one step result is 4.0 MB/);
  });

  it("a run past 1,000 steps fails with a message naming the limit", async () => {
    const c = client();
    const fn = c.createFunction({ id: "many" }, { event: "t/many" }, async ({ step }) => {
      for (let i = 0; i < 1_001; i++) await step.run("s", () => i);
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/many" }, 30_000);
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/past the limit of 1000 steps per run/);
    expect(run.steps).toHaveLength(1_000);
  });

  it("a run whose results pass 32 MB fails with a message naming the limit", async () => {
    const c = client();
    const fn = c.createFunction({ id: "state" }, { event: "t/state" }, async ({ step }) => {
      for (let i = 0; i < 10; i++) await step.run("chunk", () => "y".repeat(3.9 * 1024 * 1024));
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/state" }, 30_000);
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/past the 32.0 MB limit per run/);
    expect(run.steps.length).toBe(8);
  });
});
