/**
 * Inngest v4's class form (`Middleware.BaseMiddleware`) on the same runtime: hooks in
 * the places the official v4 SDK calls them, a fresh instance per call, observation
 * hook errors logged rather than failing the call.
 */
import { type Logger, Middleware, Stepwise, silentLogger, type TransformFunctionInputArgs } from "stepwise";
import { describe, expect, it } from "vitest";
import { sendAndWait, startEngine } from "../helpers.ts";

type Log = [string, ...unknown[]][];

function recordingClass(log: Log, id: string) {
  return class Recording extends Middleware.BaseMiddleware {
    readonly id = id;
    static override onRegister({ fn }: Middleware.OnRegisterArgs) {
      log.push([id, "onRegister", fn ? fn.config.id : null]);
    }
    constructor(args: { client: Middleware.Client }) {
      super(args);
      log.push([id, "new"]);
    }
    override transformFunctionInput(arg: TransformFunctionInputArgs) {
      log.push([id, "transformFunctionInput", Object.keys(arg.steps).length]);
      return { ...arg, ctx: { ...arg.ctx, [id]: true } };
    }
    override onRunStart() {
      log.push([id, "onRunStart"]);
    }
    override onMemoizationEnd() {
      log.push([id, "onMemoizationEnd"]);
    }
    override async wrapFunctionHandler({ next }: Middleware.WrapFunctionHandlerArgs) {
      log.push([id, "wrapFunctionHandler:before"]);
      const out = await next();
      log.push([id, "wrapFunctionHandler:after", out]);
      return out;
    }
    override onStepStart({ stepInfo }: Middleware.StepArgs) {
      log.push([id, "onStepStart", stepInfo.options.id, stepInfo.stepType, stepInfo.memoized]);
    }
    override async wrapStepHandler({ next, stepInfo }: Middleware.WrapStepHandlerArgs) {
      log.push([id, "wrapStepHandler:before", stepInfo.options.id]);
      return next();
    }
    override onStepComplete({ stepInfo, output }: Middleware.OnStepCompleteArgs) {
      log.push([id, "onStepComplete", stepInfo.options.id, output]);
    }
    override onStepError({ stepInfo, error, isFinalAttempt }: Middleware.OnStepErrorArgs) {
      log.push([id, "onStepError", stepInfo.options.id, error.message, isFinalAttempt]);
    }
    override onRunComplete({ output }: Middleware.OnRunCompleteArgs) {
      log.push([id, "onRunComplete", output]);
    }
    override onRunError({ error, isFinalAttempt }: Middleware.OnRunErrorArgs) {
      log.push([id, "onRunError", error.message, isFinalAttempt]);
    }
    override transformSendEvent(arg: Middleware.TransformSendEventArgs) {
      log.push([id, "transformSendEvent", arg.events.map((e) => e.name), arg.fn ? arg.fn.config.id : null]);
      return { ...arg, events: arg.events.map((e) => ({ ...e, data: { ...e.data, [id]: true } })) };
    }
    override async wrapSendEvent({ next }: Middleware.WrapSendEventArgs) {
      log.push([id, "wrapSendEvent"]);
      return next();
    }
  };
}

describe("v4 class middleware", () => {
  it("calls the v4 hooks in the official places and order, one instance per call", async () => {
    const log: Log = [];
    const client = new Stepwise({ id: "v4", logger: silentLogger, middleware: [recordingClass(log, "A")] });
    let tries = 0;
    const fn = client.createFunction({ id: "f", retries: 1, middleware: [recordingClass(log, "B")] }, { event: "v4/go" }, async ({ step }) => {
      log.push(["handler"]);
      await step.run("flaky", () => {
        if (++tries === 1) throw new Error("first try");
        return "ok";
      });
      await step.sleep("nap", "10ms");
      return "done";
    });
    expect(log).toEqual([
      ["A", "onRegister", null],
      ["B", "onRegister", "v4-f"],
    ]);
    log.length = 0;
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "v4/go" });
    expect(run).toMatchObject({ status: "Completed", output: "done" });

    const calls: Log[] = [];
    for (const entry of log) {
      if (entry[0] === "A" && entry[1] === "new" && (calls.length === 0 || calls.at(-1)?.some((e) => e[1] !== "new"))) calls.push([]);
      calls.at(-1)?.push(entry);
    }
    // The client.send of the trigger, then three calls: the failed attempt, the retry (reporting the sleep), the end.
    expect(calls[0]).toEqual([
      ["A", "new"],
      ["A", "transformSendEvent", ["v4/go"], null],
      ["A", "wrapSendEvent"],
    ]);
    const common = (memo: number): Log => [
      ["A", "new"],
      ["B", "new"],
      ["A", "transformFunctionInput", memo],
      ["B", "transformFunctionInput", memo],
    ];
    expect(calls[1]).toEqual([
      ...common(0),
      ["A", "onMemoizationEnd"],
      ["B", "onMemoizationEnd"],
      ["A", "onRunStart"],
      ["B", "onRunStart"],
      ["A", "wrapFunctionHandler:before"],
      ["B", "wrapFunctionHandler:before"],
      ["handler"],
      ["A", "onStepStart", "flaky", "run", false],
      ["B", "onStepStart", "flaky", "run", false],
      ["A", "wrapStepHandler:before", "flaky"],
      ["B", "wrapStepHandler:before", "flaky"],
      ["A", "onStepError", "flaky", "first try", false],
      ["B", "onStepError", "flaky", "first try", false],
    ]);
    expect(calls[2]).toEqual([
      ...common(0),
      ["A", "onMemoizationEnd"],
      ["B", "onMemoizationEnd"],
      ["A", "wrapFunctionHandler:before"],
      ["B", "wrapFunctionHandler:before"],
      ["handler"],
      ["A", "onStepStart", "flaky", "run", false],
      ["B", "onStepStart", "flaky", "run", false],
      ["A", "wrapStepHandler:before", "flaky"],
      ["B", "wrapStepHandler:before", "flaky"],
      ["A", "onStepComplete", "flaky", "ok"],
      ["B", "onStepComplete", "flaky", "ok"],
    ]);
    expect(calls[3]).toEqual([
      ...common(2),
      ["A", "wrapFunctionHandler:before"],
      ["B", "wrapFunctionHandler:before"],
      ["handler"],
      ["A", "onMemoizationEnd"],
      ["B", "onMemoizationEnd"],
      ["B", "wrapFunctionHandler:after", "done"],
      ["A", "wrapFunctionHandler:after", "done"],
      ["A", "onRunComplete", "done"],
      ["B", "onRunComplete", "done"],
    ]);
    expect(calls).toHaveLength(4);
  });

  it("types and injects transformFunctionInput's context; an observation hook that throws is logged, not fatal", async () => {
    const errors: unknown[][] = [];
    const logger: Logger = { ...silentLogger, error: (...args: unknown[]) => void errors.push(args) };
    class Db extends Middleware.BaseMiddleware {
      readonly id = "db";
      override transformFunctionInput(arg: TransformFunctionInputArgs) {
        return { ...arg, ctx: { ...arg.ctx, db: { get: (k: string) => `value of ${k}` } } };
      }
      override onRunComplete(): void {
        throw new Error("metrics down");
      }
    }
    const client = new Stepwise({ id: "v4", logger, middleware: [Db] });
    const fn = client.createFunction({ id: "di", retries: 0 }, { event: "v4/di" }, (ctx) => {
      // @ts-expect-error no middleware provides `cache`
      void ctx.cache;
      return ctx.db.get("k");
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "v4/di" });
    expect(run).toMatchObject({ status: "Completed", output: "value of k" });
    expect(errors).toEqual([['middleware "Db" failed in onRunComplete', expect.objectContaining({ message: "metrics down" })]]);
  });

  it("wrapStep wraps every step kind, memoized or not, and may change the value returned to the handler", async () => {
    const seen: [string, string, boolean][] = [];
    class Revive extends Middleware.BaseMiddleware {
      readonly id = "revive";
      override async wrapStep({ next, stepInfo }: Middleware.WrapStepArgs) {
        seen.push([stepInfo.options.id, String(stepInfo.stepType), stepInfo.memoized]);
        const value = await next();
        return stepInfo.stepType === "run" ? { revived: value } : value;
      }
    }
    const client = new Stepwise({ id: "v4", logger: silentLogger, middleware: [Revive] });
    const fn = client.createFunction({ id: "w", retries: 0 }, { event: "v4/w" }, async ({ step }) => {
      const a = await step.run("a", () => "A");
      await step.sleep("nap", "10ms");
      return a;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "v4/w" });
    expect(run).toMatchObject({ status: "Completed", output: { revived: "A" } });
    // Stored as the work returned it; only the handler sees the wrapped value.
    expect(run.steps.find((s) => s.name === "a")?.output).toBe("A");
    expect(seen).toEqual([
      ["a", "run", false],
      ["nap", "sleep", false],
      ["a", "run", true],
      ["nap", "sleep", true],
    ]);
  });

  it("a step started inside wrapStep is not wrapped by the same middleware again", async () => {
    const wrapped: string[] = [];
    class Prepend extends Middleware.BaseMiddleware {
      readonly id = "prepend";
      override async wrapStep({ ctx, next, stepInfo }: Middleware.WrapStepArgs) {
        wrapped.push(stepInfo.options.id);
        if (stepInfo.options.id === "main") await ctx.step.run("audit", () => "logged");
        return next();
      }
    }
    const client = new Stepwise({ id: "v4", logger: silentLogger, middleware: [Prepend] });
    const fn = client.createFunction({ id: "p", retries: 0 }, { event: "v4/p" }, async ({ step }) => step.run("main", () => "M"));
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "v4/p" });
    expect(run).toMatchObject({ status: "Completed", output: "M" });
    expect(run.steps.map((s) => s.name).sort()).toEqual(["audit", "main"]);
    expect(wrapped.filter((id) => id === "audit")).toEqual([]);
  });

  it("a transform hook that throws fails the call", async () => {
    class Broken extends Middleware.BaseMiddleware {
      readonly id = "broken";
      override transformFunctionInput(): TransformFunctionInputArgs {
        throw new Error("cannot transform");
      }
    }
    const client = new Stepwise({ id: "v4", logger: silentLogger });
    const fn = client.createFunction({ id: "b", retries: 0, middleware: [Broken] }, { event: "v4/b" }, () => "never");
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "v4/b" });
    expect(run).toMatchObject({
      status: "Failed",
      error: { name: "MiddlewareError", message: 'middleware "Broken" failed in transformFunctionInput: cannot transform' },
    });
  });
});
