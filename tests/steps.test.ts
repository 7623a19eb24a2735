/**
 * Step semantics on a real SQLite file: memoization, JSON results, parallel units,
 * repeated ids, sleeps.
 */
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { sendAndWait, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "t", logger: silentLogger });

describe("steps", () => {
  it("hands the handler the JSON form of a result on the first call and on replay alike", async () => {
    const c = client();
    const seen: string[] = [];
    const fn = c.createFunction({ id: "json" }, { event: "t/json" }, async ({ step }) => {
      const value = await step.run("make", () => ({ at: new Date(0), gone: undefined, n: 1 }));
      seen.push(JSON.stringify(value), typeof value.at);
      await step.sleep("force-replay", "10ms");
      return value;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/json" });
    expect(run.output).toEqual({ at: "1970-01-01T00:00:00.000Z", n: 1 });
    // first call and the replay after the sleep saw exactly the same thing
    expect(seen).toEqual(['{"at":"1970-01-01T00:00:00.000Z","n":1}', "string", '{"at":"1970-01-01T00:00:00.000Z","n":1}', "string"]);
  });

  it("runs a completed step only once across replays", async () => {
    const c = client();
    let runs = 0;
    const fn = c.createFunction({ id: "once" }, { event: "t/once" }, async ({ step }) => {
      await step.run("side-effect", () => ++runs);
      await step.sleep("a", "5ms");
      await step.sleep("b", "5ms");
      return runs;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/once" });
    expect(run.output).toBe(1);
    expect(runs).toBe(1);
  });

  it("gives repeated step ids a counter (loops)", async () => {
    const c = client();
    const fn = c.createFunction({ id: "loop" }, { event: "t/loop" }, async ({ step }) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push(await step.run("item", () => i * 10));
      return out;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/loop" });
    expect(run.output).toEqual([0, 10, 20]);
    expect(run.steps.map((s) => s.name)).toEqual(["item", "item:1", "item:2"]);
  });

  it("retries parallel steps separately", async () => {
    const c = client();
    const calls = { steady: 0, shaky: 0 };
    const fn = c.createFunction({ id: "par" }, { event: "t/par" }, async ({ step }) => {
      const [a, b] = await Promise.all([
        step.run("steady", () => ++calls.steady),
        step.run("shaky", () => {
          if (++calls.shaky < 3) throw new Error("not yet");
          return "ok";
        }),
      ]);
      return { a, b };
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/par" });
    expect(run.output).toEqual({ a: 1, b: "ok" });
    expect(calls).toEqual({ steady: 1, shaky: 3 });
    expect(Object.fromEntries(run.steps.map((s) => [s.name, s.attempts]))).toEqual({ steady: 1, shaky: 3 });
  });

  it("runs nested parallel branches to completion", async () => {
    const c = client();
    const fn = c.createFunction({ id: "branches" }, { event: "t/branches" }, async ({ step }) => {
      const branch = async (name: string) => {
        const one = await step.run(`${name}-1`, () => 1);
        const two = await step.run(`${name}-2`, () => one + 1);
        return two;
      };
      const results = await Promise.all([branch("x"), branch("y"), step.sleep("z", "5ms").then(() => 0)]);
      return results;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/branches" });
    expect(run.output).toEqual([2, 2, 0]);
    expect(run.steps.map((s) => s.name).sort()).toEqual(["x-1", "x-2", "y-1", "y-2", "z"]);
  });

  it("sleeps until an instant, and not at all for a past one", async () => {
    const c = client();
    const fn = c.createFunction({ id: "until" }, { event: "t/until" }, async ({ step }) => {
      const start = Date.now();
      await step.sleepUntil("past", new Date(0));
      await step.sleepUntil("soon", new Date(start + 100).toISOString());
      return Date.now() - start;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/until" });
    expect(run.status).toBe("Completed");
    expect(run.steps.map((s) => s.name)).toEqual(["past", "soon"]);
    expect(run.steps[1]!.endedAt! - run.steps[0]!.endedAt!).toBeGreaterThanOrEqual(90);
  });

  it("retries a step right after a sleep with its attempts counted", async () => {
    const c = client();
    let calls = 0;
    const fn = c.createFunction({ id: "after-sleep", retries: 3 }, { event: "t/after-sleep" }, async ({ step }) => {
      await step.sleep("nap", "10ms");
      return step.run("flaky", () => {
        if (++calls < 3) throw new Error("not yet");
        return calls;
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/after-sleep" });
    expect(run.output).toBe(3);
    expect(run.steps.map((s) => [s.name, s.attempts])).toEqual([
      ["nap", 1],
      ["flaky", 3],
    ]);
  });

  it("exposes the attempt of the step being retried", async () => {
    const c = client();
    const attempts: number[] = [];
    const fn = c.createFunction({ id: "attempt" }, { event: "t/attempt" }, async ({ step, attempt }) => {
      attempts.push(attempt);
      await step.run("fails-once", () => {
        if (attempts.length === 1) throw new Error("first");
      });
      return attempts;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/attempt" });
    expect(run.output).toEqual([0, 1]);
  });

  it("accepts the v4 form createFunction({ ...options, triggers }, handler) and Inngest as the client", async () => {
    const { Inngest } = await import("stepwise");
    const c = new Inngest({ id: "v4", logger: silentLogger });
    const fn = c.createFunction({ id: "v4-fn", triggers: [{ event: "t/v4" }] }, async ({ event }) => event.data);
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/v4", data: { hello: "world" } });
    expect(run.output).toEqual({ hello: "world" });
    expect(run.functionId).toBe("v4-v4-fn");
  });

  it("fans one event out to every matching function, honouring `if`", async () => {
    const c = client();
    const a = c.createFunction({ id: "a" }, { event: "t/fan" }, async () => "a");
    const b = c.createFunction({ id: "b" }, { event: "t/fan", if: "event.data.amount > 100" }, async () => "b");
    const w = c.createFunction({ id: "w" }, { event: "t/*" }, async () => "w");
    const { engine } = await startEngine({ client: c, functions: [a, b, w] });
    const small = await c.send({ name: "t/fan", data: { amount: 5 } });
    const big = await c.send({ name: "t/fan", data: { amount: 500 } });
    const names = async (id: string) => (await engine.listRuns({ eventId: id })).map((r) => r.functionId).sort();
    expect(await names(small.ids[0]!)).toEqual(["t-a", "t-w"]);
    expect(await names(big.ids[0]!)).toEqual(["t-a", "t-b", "t-w"]);
  });
});
