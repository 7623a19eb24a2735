/**
 * Bad input gets a clear error naming the problem, and nothing already accepted is lost.
 */
import { Stepwise, StepwiseError, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { sendAndWait, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "t", logger: silentLogger });

describe("bad input", () => {
  it("rejects a malformed batch naming the index and field, storing none of it", async () => {
    const c = client();
    const fn = c.createFunction({ id: "f" }, { event: "t/ok" }, async () => "ran");
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const accepted = await sendAndWait(engine, c, { name: "t/ok" });
    await expect(c.send([{ name: "t/ok" }, { name: "t/ok", data: [1, 2] as unknown as Record<string, unknown> }])).rejects.toThrow(
      /^events\[1\]: "data" must be an object, received an array$/,
    );
    await expect(c.send({ name: "" })).rejects.toThrow(/"name" is required/);
    await expect(c.send({ name: "t/ok", data: { blob: "z".repeat(513 * 1024) } })).rejects.toThrow(/event "t\/ok" is 513.0 KB; the limit is 512.0 KB/);
    const runs = await engine.listRuns({});
    expect(runs.map((r) => r.id)).toEqual([accepted.id]);
    expect(runs[0]?.status).toBe("Completed");
  });

  it("honours a larger maxEventBytes", async () => {
    const c = client();
    const fn = c.createFunction({ id: "f" }, { event: "t/big" }, async ({ event }) => (event.data.blob as string).length);
    const { engine } = await startEngine({ client: c, functions: [fn], maxEventBytes: 2 * 1024 * 1024 });
    const run = await sendAndWait(engine, c, { name: "t/big", data: { blob: "z".repeat(1024 * 1024) } });
    expect(run.output).toBe(1024 * 1024);
  });

  it("rejects invalid function options naming the function and field", () => {
    const c = client();
    const noop = async () => null;
    const error = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as StepwiseError;
      }
      throw new Error("did not throw");
    };
    const retries = error(() => c.createFunction({ id: "r", retries: 30 }, { event: "x" }, noop));
    expect(StepwiseError.is(retries) && retries.code).toBe("invalid_config");
    expect(retries.message).toBe('function "r": retries: must be an integer from 0 to 20, received 30');
    expect(error(() => c.createFunction({ id: "c", concurrency: { limit: 0 } }, { event: "x" }, noop)).message).toMatch(
      /function "c": concurrency.limit: expected a positive integer/,
    );
    expect(error(() => c.createFunction({ id: "t", throttle: { limit: 1, period: "soon" } }, { event: "x" }, noop)).message).toMatch(
      /function "t": throttle.period: cannot parse duration "soon"/,
    );
    expect(error(() => c.createFunction({ id: "d", debounce: { period: "10d" } }, { event: "x" }, noop)).message).toMatch(
      /debounce.period: must be at most 604800s/,
    );
    expect(error(() => c.createFunction({ id: "s", singleton: { mode: "wait" as "skip" } }, { event: "x" }, noop)).message).toMatch(
      /singleton.mode: expected "skip" or "cancel"/,
    );
    expect(
      error(() =>
        c.createFunction(
          { id: "m" },
          Array.from({ length: 11 }, () => ({ event: "x" })),
          noop,
        ),
      ).message,
    ).toMatch(/triggers: at most 10 triggers, received 11/);
    expect(error(() => c.createFunction({ id: "bad id!" }, { event: "x" }, noop)).message).toMatch(/function "bad id!": id: must be letters/);
  });

  it("accepts flow-control options of the right shape", () => {
    const c = client();
    const fn = c.createFunction(
      {
        id: "fc",
        concurrency: [{ limit: 5 }, { limit: 1, key: "event.data.user" }],
        throttle: { limit: 100, period: "1m" },
        rateLimit: { limit: 10, period: "1h", key: "event.data.user" },
        debounce: { period: "5s", timeout: "1m" },
        priority: { run: "event.data.vip ? 60 : 0" },
        batchEvents: { maxSize: 10, timeout: "5s" },
        idempotency: "event.data.id",
        singleton: { key: "event.data.user", mode: "skip" },
        cancelOn: [{ event: "t/cancel", match: "data.id" }],
        timeouts: { start: "1m", finish: "1h" },
      },
      { event: "t/fc" },
      async () => null,
    );
    expect(fn.config.id).toBe("t-fc");
  });

  it("rejects a bad trigger expression at registration, registering nothing", async () => {
    const c = client();
    const good = c.createFunction({ id: "good" }, { event: "t/x" }, async () => 1);
    const bad = c.createFunction({ id: "bad" }, { event: "t/x", if: "event.data.amount >" }, async () => 1);
    const { engine } = await startEngine({ client: c });
    expect(() => engine.register({ functions: [good, bad] })).toThrow(/function "bad": triggers\[0\]\.if: invalid expression "event.data.amount >"/);
    expect(engine.functions()).toEqual([]);
  });

  it("tells a client with no engine where to register", async () => {
    await expect(client().send({ name: "t/x" })).rejects.toThrow(/client "t" has nowhere to send events: pass it to engine.register/);
  });

  it("rejects bad step arguments inside the handler, failing the run with the reason", async () => {
    const c = client();
    const fn = c.createFunction({ id: "sleepy", retries: 0 }, { event: "t/sleepy" }, async ({ step }) => {
      await step.sleep("nap", "a while");
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "t/sleepy" });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/step.sleep\("nap"\): cannot parse duration "a while"/);
  });
});
