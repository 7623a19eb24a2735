/**
 * Dependency injection typed in handlers (client-wide and per function), and the
 * shipped logger middleware: silent while memoized steps replay, flushed every call.
 */
import { InngestMiddleware, type Logger, loggerMiddleware, type MiddlewareContext, Stepwise, silentLogger } from "stepwise";
import { describe, expect, expectTypeOf, it } from "vitest";
import { pollUntil, sendAndWait, startEngine } from "../helpers.ts";

const dbMiddleware = new InngestMiddleware({
  name: "db",
  init: async () => {
    const rows = new Map([["u1", { name: "Ada" }]]);
    return {
      onFunctionRun: () => ({
        transformInput: () => ({ ctx: { db: { user: (id: string) => rows.get(id) } } }),
      }),
    };
  },
});

const clockMiddleware = new InngestMiddleware({
  name: "clock",
  init: () => ({ onFunctionRun: () => ({ transformInput: () => ({ ctx: { now: () => 42 } }) }) }),
});

const quiet = new InngestMiddleware({ name: "quiet", init: () => ({}) });

describe("dependency injection", () => {
  it("types client middleware fields in every handler, function middleware fields in that function only", async () => {
    const client = new Stepwise({ id: "di", logger: silentLogger, middleware: [quiet, dbMiddleware] });
    const withClock = client.createFunction({ id: "with-clock", middleware: [clockMiddleware] }, { event: "di/a" }, ({ db, now, event }) => {
      expectTypeOf(db.user).toEqualTypeOf<(id: string) => { name: string } | undefined>();
      return { user: db.user(String(event.data.id))?.name, at: now() };
    });
    const plain = client.createFunction({ id: "plain" }, { event: "di/b" }, (ctx) => {
      // @ts-expect-error `now` comes from with-clock's own middleware, not the client's
      void ctx.now;
      // @ts-expect-error no middleware provides `cache`
      void ctx.cache;
      return { user: ctx.db.user("u1")?.name, hasNow: "now" in ctx };
    });
    expectTypeOf<MiddlewareContext<[typeof dbMiddleware, typeof clockMiddleware]>>().toHaveProperty("now");
    const { engine } = await startEngine({ database: ":memory:", client, functions: [withClock, plain] });
    expect((await sendAndWait(engine, client, { name: "di/a", data: { id: "u1" } })).output).toEqual({ user: "Ada", at: 42 });
    expect((await sendAndWait(engine, client, { name: "di/b" })).output).toEqual({ user: "Ada", hasNow: false });
  });

  it("runs onFailure with the function's middleware", async () => {
    const client = new Stepwise({ id: "di", logger: silentLogger });
    let failureSaw: unknown;
    const fn = client.createFunction(
      {
        id: "failing",
        retries: 0,
        middleware: [clockMiddleware],
        onFailure: (ctx) => {
          failureSaw = { now: (ctx as unknown as { now: () => number }).now(), error: ctx.error.message };
        },
      },
      { event: "di/fail" },
      () => {
        throw new Error("broken");
      },
    );
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    expect((await sendAndWait(engine, client, { name: "di/fail" })).status).toBe("Failed");
    const [failure] = await pollUntil(
      () => engine.listRuns({ functionId: "di-failing-failure" }),
      (runs) => runs.length > 0,
    );
    expect((await engine.waitForRun(failure!.id, { timeoutMs: 10_000 })).status).toBe("Completed");
    expect(failureSaw).toEqual({ now: 42, error: "broken" });
  });

  it("keeps ctx.attempt live after fields are added", async () => {
    const client = new Stepwise({ id: "di", logger: silentLogger, middleware: [dbMiddleware] });
    const attempts: number[] = [];
    const fn = client.createFunction({ id: "retrying", retries: 2 }, { event: "di/retry" }, async (ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 2) throw new Error("again");
      return ctx.attempt;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    expect((await sendAndWait(engine, client, { name: "di/retry" })).output).toBe(2);
    expect(attempts).toEqual([0, 1, 2]);
  });
});

describe("loggerMiddleware", () => {
  function recordingLogger() {
    const lines: string[] = [];
    let flushes = 0;
    const logger: Logger & { flush(): void } = {
      debug: (m) => void lines.push(`debug ${m}`),
      info: (m) => void lines.push(`info ${m}`),
      warn: (m) => void lines.push(`warn ${m}`),
      error: (m) => void lines.push(`error ${m}`),
      flush: () => void flushes++,
    };
    return { logger, lines, flushes: () => flushes };
  }

  it("logs each line once per run although the call replays, logs the final error, and flushes every call", async () => {
    const { logger, lines, flushes } = recordingLogger();
    const client = new Stepwise({ id: "log", logger, middleware: [loggerMiddleware()] });
    let calls = 0;
    const fn = client.createFunction({ id: "chatty", retries: 0 }, { event: "log/go" }, async ({ step, logger: log }) => {
      calls++;
      log.info("starting");
      await step.run("a", () => log.info("in a"));
      log.info("between");
      await step.sleep("nap", "10ms");
      log.warn("after nap");
      throw new Error("the end");
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "log/go" });
    expect(run.status).toBe("Failed");
    expect(calls).toBe(2);
    expect(lines).toEqual(["info starting", "info in a", "info between", "warn after nap", "error the end"]);
    expect(flushes()).toBe(2);
  });

  it("without it, ctx.logger is the client's logger and repeats lines on replay", async () => {
    const { logger, lines } = recordingLogger();
    const client = new Stepwise({ id: "log", logger });
    const fn = client.createFunction({ id: "plain", retries: 0 }, { event: "log/plain" }, async ({ step, logger: log }) => {
      log.info("top");
      await step.sleep("nap", "10ms");
      return "ok";
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    await sendAndWait(engine, client, { name: "log/plain" });
    expect(lines.filter((l) => l === "info top")).toHaveLength(2);
  });

  it("uses the logger's child({ runID, eventName, functionName }) when it has one", async () => {
    const children: Record<string, unknown>[] = [];
    const { logger, lines } = recordingLogger();
    const parent = {
      ...silentLogger,
      child: (fields: Record<string, unknown>) => {
        children.push(fields);
        return logger;
      },
    };
    const client = new Stepwise({ id: "log", logger: silentLogger, middleware: [loggerMiddleware({ logger: parent })] });
    const fn = client.createFunction({ id: "child", name: "Child logger" }, { event: "log/child" }, ({ logger: log }) => {
      log.info("hello");
      return null;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "log/child" });
    expect(lines).toEqual(["info hello"]);
    expect(children).toEqual([{ runID: run.id, eventName: "log/child", functionName: "Child logger" }]);
  });
});
