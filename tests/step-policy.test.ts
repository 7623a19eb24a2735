/**
 * Per-step policy (beyond Inngest): `step.run({ id, retries, timeout, backoff }, fn)` and
 * the `AbortSignal` `fn` receives (step timeout, run cancellation), in-process.
 */
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { runsOf, sendAndWait, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "policy", logger: silentLogger });

describe("step.run policy", () => {
  it("retries a step by its own count, over and under the function's", async () => {
    const c = client();
    const calls = { more: 0, none: 0 };
    const more = c.createFunction({ id: "more", retries: 0 }, { event: "p/more" }, async ({ step }) =>
      step.run({ id: "flaky", retries: 2 }, () => {
        if (++calls.more < 3) throw new Error(`flake ${calls.more}`);
        return calls.more;
      }),
    );
    const none = c.createFunction({ id: "none", retries: 5 }, { event: "p/none" }, async ({ step }) =>
      step.run({ id: "once", retries: 0 }, () => {
        calls.none++;
        throw new Error("no second chance");
      }),
    );
    const { engine } = await startEngine({ client: c, functions: [more, none] });
    const ok = await sendAndWait(engine, c, { name: "p/more" });
    expect(ok).toMatchObject({ status: "Completed", output: 3 });
    expect(ok.steps[0]).toMatchObject({ name: "flaky", status: "Completed", attempts: 3 });
    const failed = await sendAndWait(engine, c, { name: "p/none" });
    expect(failed.status).toBe("Failed");
    expect(failed.steps[0]).toMatchObject({ name: "once", status: "Failed", attempts: 1 });
    expect(calls.none).toBe(1);
  });

  it("times an attempt out: its signal aborts with StepTimeoutError and the step is retried", async () => {
    const c = client();
    const reasons: string[] = [];
    let attempts = 0;
    const fn = c.createFunction({ id: "slow", retries: 0 }, { event: "p/slow" }, async ({ step }) =>
      step.run({ id: "slow", timeout: "50ms", retries: 1 }, async (signal) => {
        if (++attempts === 1) {
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
          reasons.push((signal.reason as Error).name);
          return "too late";
        }
        return "in time";
      }),
    );
    const gaveUp = c.createFunction({ id: "gave-up", retries: 3 }, { event: "p/gave-up" }, async ({ step }) =>
      step.run({ id: "never", timeout: 30, retries: 0 }, () => new Promise(() => {})),
    );
    const { engine } = await startEngine({ client: c, functions: [fn, gaveUp] });
    const run = await sendAndWait(engine, c, { name: "p/slow" });
    expect(run).toMatchObject({ status: "Completed", output: "in time" });
    expect(run.steps[0]).toMatchObject({ status: "Completed", attempts: 2 });
    expect(reasons).toEqual(["StepTimeoutError"]);
    const failed = await sendAndWait(engine, c, { name: "p/gave-up" });
    expect(failed.status).toBe("Failed");
    expect(failed.steps[0]?.error).toMatchObject({ name: "StepTimeoutError", message: 'step "never" timed out after 30 ms' });
  });

  it("waits between attempts by the step's backoff, fixed or exponential with a cap", async () => {
    const c = client();
    const at: Record<string, number[]> = { fixed: [], exp: [] };
    const failTimes = (key: string, times: number) => () => {
      at[key]?.push(Date.now());
      if ((at[key]?.length ?? 0) <= times) throw new Error("again");
      return "done";
    };
    const fixed = c.createFunction({ id: "fixed" }, { event: "p/fixed" }, async ({ step }) =>
      step.run({ id: "s", retries: 2, backoff: "200ms" }, failTimes("fixed", 2)),
    );
    const exp = c.createFunction({ id: "exp" }, { event: "p/exp" }, async ({ step }) =>
      step.run({ id: "s", retries: 2, backoff: { initial: "100ms", factor: 3, max: "250ms" } }, failTimes("exp", 2)),
    );
    // real delays (scale 1): the engine's own backoff would wait at least 750 ms
    const { engine } = await startEngine({ client: c, functions: [fixed, exp], retryDelayScale: 1 });
    const [a, b] = await Promise.all([sendAndWait(engine, c, { name: "p/fixed" }), sendAndWait(engine, c, { name: "p/exp" })]);
    expect([a.status, b.status]).toEqual(["Completed", "Completed"]);
    const gaps = (t: number[]) => t.slice(1).map((v, i) => v - (t[i] as number));
    const [f1, f2] = gaps(at.fixed as number[]);
    const [e1, e2] = gaps(at.exp as number[]);
    expect(f1).toBeGreaterThanOrEqual(190);
    expect(f2).toBeGreaterThanOrEqual(190);
    expect(f1).toBeLessThan(700);
    expect(e1).toBeGreaterThanOrEqual(95);
    expect(e1).toBeLessThan(e2 as number);
    expect(e2).toBeGreaterThanOrEqual(240);
    expect(e2).toBeLessThan(700);
  }, 20_000);

  it("aborts a running step's signal at once when the run is cancelled", async () => {
    const c = client();
    let started = false;
    let reason: unknown;
    const fn = c.createFunction({ id: "cancel-me" }, { event: "p/cancel" }, async ({ step }) =>
      step.run("wait-for-abort", async (signal) => {
        started = true;
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        reason = signal.reason;
        return "aborted";
      }),
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send({ name: "p/cancel" });
    const run = (await runsOf(engine, ids[0]))[0];
    await until(() => started);
    expect(reason).toBeUndefined();
    await engine.cancelRun(run?.id as string);
    await until(() => reason !== undefined);
    expect((reason as Error).name).toBe("RunCancelledError");
    expect((await engine.waitForRun(run?.id as string)).status).toBe("Cancelled");
  });

  it("rejects bad options with an error naming the field", async () => {
    const c = client();
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["retries", { retries: -1 }, /"retries" must be an integer from 0 to 20/],
      ["retries-big", { retries: 21 }, /"retries" must be an integer from 0 to 20/],
      ["timeout", { timeout: "soon" }, /"timeout" is not a valid duration/],
      ["timeout-zero", { timeout: 0 }, /"timeout" must be more than 0/],
      ["factor", { backoff: { initial: "1s", factor: 0.5 } }, /"backoff.factor" must be a number of at least 1/],
      ["max", { backoff: { initial: "1s", max: "10ms" } }, /"backoff.max" must not be less than "backoff.initial"/],
      ["initial", { backoff: { factor: 2 } }, /"backoff.initial" must be a duration/],
    ];
    const seen: Record<string, string> = {};
    const fn = c.createFunction({ id: "bad", retries: 0 }, { event: "p/bad" }, async ({ step }) => {
      for (const [key, options] of cases) {
        try {
          await step.run({ id: key, ...options }, () => 1);
        } catch (error) {
          seen[key] = (error as Error).message;
        }
      }
      return seen;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "p/bad" });
    expect(run.status).toBe("Completed");
    expect(run.steps).toEqual([]);
    for (const [key, , pattern] of cases) expect(seen[key], key).toMatch(pattern);
    for (const key of Object.keys(seen)) expect(seen[key]).toContain(`step.run("${key}")`);
  });
});
