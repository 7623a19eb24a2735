/**
 * `InngestTestEngine` from `stepwise/test`: the examples of `@inngest/test`'s README,
 * ported by changing the import, and the behaviour around them.
 */
import { NonRetriableError, Stepwise, silentLogger } from "stepwise";
import { InngestTestEngine, mockCtx } from "stepwise/test";
import { describe, expect, it, vi } from "vitest";

const inngest = new Stepwise({ id: "readme", logger: silentLogger });

const helloWorld = inngest.createFunction({ id: "hello-world" }, { event: "demo/event.sent" }, async ({ event, step, runId }) => {
  const greeting = await step.run("my-step", () => "Hello World!");
  if (event.data.message === "runId") return `Run ID was: "${runId}"`;
  return greeting;
});

const pricing = inngest.createFunction({ id: "pricing" }, { event: "shop/cart.checked-out" }, async ({ step }) => {
  const items = await step.run("load-items", () => [100, 23]);
  const price = await step.run("calculate-price", () => items.reduce((a, b) => a + b, 0));
  await step.run("charge", () => ({ charged: price }));
  return { price };
});

const risky = inngest.createFunction({ id: "risky" }, { event: "demo/risky" }, async ({ step }) => {
  const ok = await step.run("successful-step", () => "real output");
  try {
    await step.run("dangerous-step", () => "fine");
  } catch (error) {
    return { ok, caught: (error as Error).message, name: (error as Error).name };
  }
  return { ok };
});

const greeting = inngest.createFunction({ id: "greeting" }, { event: "demo/greet" }, async ({ step }) => {
  const first = await step.run("build-greeting", () => "real greeting");
  const second = await step.run("build-name", () => "real name");
  return { first, second };
});

const flow = inngest.createFunction({ id: "flow" }, { event: "demo/flow" }, async ({ step }) => {
  const a = await step.run("a", () => "A");
  await step.sleep("nap", "3d");
  const reply = await step.waitForEvent("reply", { event: "demo/reply", timeout: "1h" });
  await step.sendEvent("notify", { name: "demo/notified", data: { a } });
  return { a, reply: reply ? reply.data : null };
});

describe("InngestTestEngine: @inngest/test README examples", () => {
  const t = new InngestTestEngine({ function: helloWorld });

  it("returns a greeting", async () => {
    const { result } = await t.execute();
    expect(result).toEqual("Hello World!");
  });

  it("runs the price calculations", async () => {
    const { result } = await new InngestTestEngine({ function: pricing }).executeStep("calculate-price");
    expect(result).toEqual(123);
  });

  it("ctx is the input of the run", async () => {
    const { ctx, result } = await t.execute({ events: [{ name: "demo/event.sent", data: { message: "runId" } }] });
    expect(result).toEqual(`Run ID was: "${ctx.runId}"`);
  });

  it("the step tools in ctx.step are mock functions", async () => {
    const { ctx } = await t.execute();
    expect(ctx.step.run).toHaveBeenCalledWith("my-step", expect.any(Function));
    expect(ctx.step.run).toHaveBeenCalledTimes(1);
    expect(vi.isMockFunction(ctx.step.sleep)).toBe(true);
    expect(ctx.step.sleep).not.toHaveBeenCalled();
  });

  it("state holds each step's outcome", async () => {
    const { state } = await new InngestTestEngine({ function: risky }).execute({
      steps: [{ id: "dangerous-step", handler: () => Promise.reject(new Error("something failed")) }],
    });
    await expect(state["successful-step"]).resolves.toEqual("real output");
    await expect(state["dangerous-step"]).rejects.toThrowError("something failed");
  });

  it("events can be mocked, and an invoked event is the default", async () => {
    const { ctx } = await t.execute({ events: [{ name: "demo/event.sent", data: { message: "Hi!" } }] });
    expect(ctx.event).toMatchObject({ name: "demo/event.sent", data: { message: "Hi!" } });
    expect(typeof ctx.event.id).toBe("string");
    expect(typeof ctx.event.ts).toBe("number");
    const { ctx: plain } = await t.execute();
    expect(plain.event).toMatchObject({ name: "inngest/function.invoked", data: {} });
    expect(plain.events).toEqual([plain.event]);
  });

  it("steps can be mocked: a successful one and a failing one", async () => {
    const real = vi.fn();
    const withReal = inngest.createFunction({ id: "risky-real" }, { event: "demo/risky" }, async ({ step }) => {
      const ok = await step.run("successful-step", () => {
        real();
        return "real output";
      });
      try {
        await step.run("dangerous-step", () => "fine");
      } catch (error) {
        return { ok, caught: (error as Error).message, name: (error as Error).name };
      }
      return { ok };
    });
    const { result } = await new InngestTestEngine({ function: withReal }).execute({
      steps: [
        {
          id: "successful-step",
          handler() {
            return "We did it!";
          },
        },
        {
          id: "dangerous-step",
          handler() {
            throw new Error("Oh no!");
          },
        },
      ],
    });
    expect(result).toEqual({ ok: "We did it!", caught: "Oh no!", name: "StepError" });
    expect(real).not.toHaveBeenCalled();
  });

  it("mock handlers run lazily, when the step is reached", async () => {
    let message = "";
    const { result } = await new InngestTestEngine({ function: greeting }).execute({
      steps: [
        {
          id: "build-greeting",
          handler() {
            message = "Hello, ";
            return message;
          },
        },
        {
          id: "build-name",
          handler() {
            return `${message} World!`;
          },
        },
      ],
    });
    expect(result).toEqual({ first: "Hello, ", second: "Hello,  World!" });
  });

  it("a mock handler runs once per execution, however many calls replay it", async () => {
    const handler = vi.fn(() => "mocked");
    await new InngestTestEngine({
      function: pricing,
      steps: [
        { id: "load-items", handler: () => [1, 2] },
        { id: "charge", handler },
      ],
    }).execute();
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it("clone copies the mocks, and adds more", async () => {
    const base = new InngestTestEngine({ function: greeting, steps: [{ id: "build-greeting", handler: () => "Hi" }] });
    const other = base.clone();
    expect((await other.execute()).result).toEqual({ first: "Hi", second: "real name" });
    const another = base.clone({
      steps: [
        { id: "build-greeting", handler: () => "Hey" },
        { id: "build-name", handler: () => "you" },
      ],
    });
    expect((await another.execute()).result).toEqual({ first: "Hey", second: "you" });
    expect((await base.execute()).result).toEqual({ first: "Hi", second: "real name" });
  });

  it("transformCtx replaces the context; mockCtx keeps the spies", async () => {
    const custom = { id: "custom-event", name: "demo/event.sent", data: { message: "runId" }, user: {}, ts: 1 };
    const t2 = new InngestTestEngine({
      function: helloWorld,
      transformCtx: (ctx) => ({ ...mockCtx(ctx), event: custom, runId: "run-from-test" }),
    });
    const { result, ctx } = await t2.execute();
    expect(result).toBe('Run ID was: "run-from-test"');
    expect(ctx.step.run).toHaveBeenCalledWith("my-step", expect.any(Function));
    const bare = await new InngestTestEngine({ function: helloWorld, transformCtx: (ctx) => ctx }).execute();
    expect(bare.result).toBe("Hello World!");
    expect(vi.isMockFunction(bare.ctx.step.run)).toBe(false);
  });
});

describe("InngestTestEngine: return shapes and steps", () => {
  it("a function that throws: error is the serialized error, result is absent", async () => {
    const bad = inngest.createFunction({ id: "bad" }, { event: "demo/bad" }, async () => {
      throw new NonRetriableError("nope");
    });
    const output = await new InngestTestEngine({ function: bad }).execute();
    expect(output.error).toMatchObject({ name: "NonRetriableError", message: "nope", __serialized: true });
    expect("result" in output).toBe(false);
    expect(Object.keys(output).sort()).toEqual(["ctx", "error", "state"]);
  });

  it("a step that throws ends the execution with that step's error (retries are not modelled)", async () => {
    const after = vi.fn();
    const failing = inngest.createFunction({ id: "failing" }, { event: "demo/bad" }, async ({ step }) => {
      await step.run("s", () => {
        throw new Error("step boom");
      });
      after();
    });
    const output = await new InngestTestEngine({ function: failing }).execute();
    expect(output.error).toMatchObject({ name: "Error", message: "step boom" });
    expect(after).not.toHaveBeenCalled();
    const step = await new InngestTestEngine({ function: failing }).executeStep("s");
    expect(step.error).toMatchObject({ message: "step boom" });
    expect(step.step).toMatchObject({ op: "StepError", name: "s", userland: { id: "s" } });
  });

  it("executeStep of a step.run returns its result and op; other steps ran first", async () => {
    const output = await new InngestTestEngine({ function: pricing }).executeStep("charge");
    expect(output.result).toEqual({ charged: 123 });
    expect(output.step).toMatchObject({ op: "StepRun", name: "charge", data: { charged: 123 } });
  });

  it("executeStep of a sleep or a wait returns the op it asked for", async () => {
    const t = new InngestTestEngine({ function: flow });
    const nap = await t.executeStep("nap");
    expect(nap.step).toMatchObject({ op: "Sleep", name: "3d", displayName: "nap" });
    expect("result" in nap).toBe(false);
    await expect(nap.state.a).resolves.toBe("A");
    const reply = await t.executeStep("reply");
    expect(reply.step).toMatchObject({ op: "WaitForEvent", name: "demo/reply", opts: { timeout: "1h" } });
  });

  it("an unmocked sleep passes and an unmocked wait times out; mocks decide otherwise", async () => {
    const t = new InngestTestEngine({ function: flow });
    const plain = await t.execute();
    expect(plain.result).toEqual({ a: "A", reply: null });
    expect(plain.ctx.step.sendEvent).toHaveBeenCalledWith("notify", { name: "demo/notified", data: { a: "A" } });
    const mocked = await t.execute({ steps: [{ id: "reply", handler: () => ({ name: "demo/reply", data: { ok: true } }) }] });
    expect(mocked.result).toEqual({ a: "A", reply: { ok: true } });
    expect(Object.keys(mocked.state)).toEqual(["a", "nap", "reply", "notify"]);
  });

  it("parallel steps each run once", async () => {
    const calls: string[] = [];
    const parallel = inngest.createFunction({ id: "parallel" }, { event: "demo/p" }, async ({ step }) => {
      const [x, y] = await Promise.all([step.run("x", () => calls.push("x")), step.run("y", () => calls.push("y"))]);
      return await step.run("sum", () => x + y);
    });
    const { result } = await new InngestTestEngine({ function: parallel }).execute();
    expect(calls).toEqual(["x", "y"]);
    expect(result).toBe(3);
  });

  it("an unmocked invoke is an error naming the step", async () => {
    const invoker = inngest.createFunction({ id: "invoker" }, { event: "demo/i" }, async ({ step }) => step.invoke("child", { function: "readme-child" }));
    await expect(new InngestTestEngine({ function: invoker }).execute()).rejects.toThrow(/step.invoke\("child"\) needs a mock/);
    const { result } = await new InngestTestEngine({ function: invoker, steps: [{ id: "child", handler: () => 7 }] }).execute();
    expect(result).toBe(7);
  });

  it("executeStep of a step the function never reaches rejects with not_found", async () => {
    await expect(new InngestTestEngine({ function: pricing }).executeStep("missing")).rejects.toMatchObject({ code: "not_found" });
  });

  it("bad options are refused, naming the field", async () => {
    expect(() => new InngestTestEngine({ function: {} as never })).toThrow(/options.function/);
    await expect(new InngestTestEngine({ function: pricing }).execute({ steps: [{ id: "", handler: () => 1 }] })).rejects.toThrow(/steps\[0\].id/);
  });
});
