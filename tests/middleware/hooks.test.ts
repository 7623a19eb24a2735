/**
 * v3 middleware hooks, in-process: every hook fires in order with the right arguments,
 * client middleware before function middleware, `transformInput` changing context and
 * memoized steps, `transformOutput` changing results, send hooks, and hook errors.
 */
import { InngestMiddleware, Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { sendAndWait, startEngine } from "../helpers.ts";
import { type Entry, recorder } from "./recorder.ts";

describe("v3 middleware in-process", () => {
  it("calls every hook in order, client middleware first, reverse order for after* and transformOutput", async () => {
    const log: Entry[] = [];
    const client = new Stepwise({ id: "mw", logger: silentLogger, middleware: [recorder("c1", log), recorder("c2", log)] });
    const flow = client.createFunction({ id: "flow", retries: 0, middleware: [recorder("f1", log)] }, { event: "mw/go" }, async ({ step, ...ctx }) => {
      log.push(["handler", "start", Object.keys(ctx).filter((k) => k.startsWith("by_"))]);
      const a = await step.run("a", () => {
        log.push(["handler", "work a"]);
        return "A";
      });
      const b = await step.run("b", () => `${a}B`);
      return { b };
    });
    await Promise.resolve();
    expect(log).toEqual([
      ["c1", "init", null],
      ["c2", "init", null],
      ["f1", "init", "mw-flow"],
    ]);
    log.length = 0;
    const { engine } = await startEngine({ database: ":memory:", client, functions: [flow] });
    const run = await sendAndWait(engine, client, { name: "mw/go" });
    expect(run).toMatchObject({ status: "Completed", output: { b: "AB" } });

    const sends = log.filter(([, hook]) => hook.startsWith("send."));
    expect(sends).toEqual([
      ["c1", "send.transformInput", ["mw/go"]],
      ["c2", "send.transformInput", ["mw/go"]],
      ["c2", "send.transformOutput", 1],
      ["c1", "send.transformOutput", 1],
    ]);
    const call = log.filter(([, hook]) => !hook.startsWith("send."));
    const all = (hook: string, names = ["c1", "c2", "f1"]): Entry[] => names.map((n) => [n, hook]);
    const reversed = (hook: string) => all(hook, ["f1", "c2", "c1"]);
    const info = { runId: "string", event: "mw/go", steps: 0 };
    // In-process calls checkpoint: one call runs both steps and the return.
    expect(call).toEqual([
      ["c1", "onFunctionRun", info],
      ["c2", "onFunctionRun", info],
      ["f1", "onFunctionRun", info],
      ["c1", "transformInput", { steps: [], seen: [] }],
      ["c2", "transformInput", { steps: [], seen: ["by_c1"] }],
      ["f1", "transformInput", { steps: [], seen: ["by_c1", "by_c2"] }],
      ...all("beforeMemoization"),
      ...reversed("afterMemoization"),
      ...all("beforeExecution"),
      ["handler", "start", ["by_c1", "by_c2", "by_f1"]],
      ["handler", "work a"],
      ...reversed("afterExecution"),
      ["f1", "transformOutput", { data: "A", step: "a" }],
      ["c2", "transformOutput", { data: "A", step: "a" }],
      ["c1", "transformOutput", { data: "A", step: "a" }],
      ["f1", "transformOutput", { data: "AB", step: "b" }],
      ["c2", "transformOutput", { data: "AB", step: "b" }],
      ["c1", "transformOutput", { data: "AB", step: "b" }],
      ["f1", "transformOutput", { data: { b: "AB" }, step: null }],
      ["c2", "transformOutput", { data: { b: "AB" }, step: null }],
      ["c1", "transformOutput", { data: { b: "AB" }, step: null }],
      ["c1", "finished", { data: { b: "AB" } }],
      ["c2", "finished", { data: { b: "AB" } }],
      ["f1", "finished", { data: { b: "AB" } }],
      ...all("beforeResponse"),
    ]);
  });

  it("replays memoized steps silently: afterMemoization once the last memoized step resolves", async () => {
    const log: Entry[] = [];
    const client = new Stepwise({ id: "mw", logger: silentLogger, middleware: [recorder("m", log)] });
    const flow = client.createFunction({ id: "sleepy", retries: 0 }, { event: "mw/sleep" }, async ({ step }) => {
      const a = await step.run("a", () => "A");
      log.push(["handler", "after a"]);
      await step.sleep("nap", "20ms");
      log.push(["handler", "after nap"]);
      return a;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [flow] });
    const run = await sendAndWait(engine, client, { name: "mw/sleep" });
    expect(run).toMatchObject({ status: "Completed", output: "A" });
    const calls = log.filter(([, hook]) => !hook.startsWith("send.") && hook !== "init");
    const second = calls.slice(calls.findLastIndex(([, hook]) => hook === "onFunctionRun"));
    expect(second).toEqual([
      ["m", "onFunctionRun", { runId: "string", event: "mw/sleep", steps: 2 }],
      ["m", "transformInput", { steps: ["A", null], seen: [] }],
      ["m", "beforeMemoization"],
      ["handler", "after a"],
      ["m", "afterMemoization"],
      ["m", "beforeExecution"],
      ["handler", "after nap"],
      ["m", "afterExecution"],
      ["m", "transformOutput", { data: "A", step: null }],
      ["m", "finished", { data: "A" }],
      ["m", "beforeResponse"],
    ]);
    // The first call ended by reporting the sleep: no `finished`.
    const first = calls.slice(
      0,
      calls.findLastIndex(([, hook]) => hook === "onFunctionRun"),
    );
    expect(first.filter(([, hook]) => hook === "finished")).toEqual([]);
    expect(first.at(-1)).toEqual(["m", "beforeResponse"]);
  });

  it("transformInput changes memoized step data and transformOutput replaces results", async () => {
    const shout = new InngestMiddleware({
      name: "shout",
      init: () => ({
        onFunctionRun: () => ({
          transformInput: ({ steps }) => ({ steps: steps.map((s) => (typeof s.data === "string" ? { data: `${s.data}!` } : undefined)) }),
          transformOutput: ({ result, step }) => {
            if (step) return { result: { data: { wrapped: result.data } } };
            if (result.error !== undefined) return { result: { error: undefined, data: "recovered" } };
            return undefined;
          },
        }),
      }),
    });
    const client = new Stepwise({ id: "mw", logger: silentLogger });
    const seen: unknown[] = [];
    const flow = client.createFunction({ id: "t", retries: 0, middleware: [shout] }, { event: "mw/t" }, async ({ step }) => {
      const a = await step.run("a", () => "a");
      seen.push(a);
      await step.sleep("nap", "10ms");
      seen.push(a);
      throw new Error("handler failed");
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [flow] });
    const run = await sendAndWait(engine, client, { name: "mw/t" });
    expect(run).toMatchObject({ status: "Completed", output: "recovered" });
    // Stored step result is the transformed output; on replay transformInput sees the stored object (not a string).
    expect(run.steps.find((s) => s.name === "a")?.output).toEqual({ wrapped: "a" });
    // First call: after the step; second call: on replay, then after the sleep.
    expect(seen).toEqual([{ wrapped: "a" }, { wrapped: "a" }, { wrapped: "a" }]);
  });

  it("transformInput's steps reach the handler on replay", async () => {
    const upper = new InngestMiddleware({
      name: "upper",
      init: () => ({
        onFunctionRun: () => ({
          transformInput: ({ steps }) => ({ steps: steps.map((s) => (typeof s.data === "string" ? { data: s.data.toUpperCase() } : undefined)) }),
        }),
      }),
    });
    const client = new Stepwise({ id: "mw", logger: silentLogger, middleware: [upper] });
    const flow = client.createFunction({ id: "u", retries: 0 }, { event: "mw/u" }, async ({ step }) => {
      const a = await step.run("a", () => "quiet");
      await step.sleep("nap", "10ms");
      return a;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [flow] });
    const run = await sendAndWait(engine, client, { name: "mw/u" });
    expect(run).toMatchObject({ status: "Completed", output: "QUIET" });
  });

  it("onSendEvent.transformInput changes payloads before they are stored (client.send and step.sendEvent)", async () => {
    const tag = new InngestMiddleware({
      name: "tag",
      init: () => ({
        onSendEvent: () => ({
          transformInput: ({ payloads }) => ({ payloads: payloads.map((p) => ({ ...p, data: { ...p.data, tagged: true } })) }),
          transformOutput: ({ result }) => ({ result: { ids: result.ids, extra: "yes" } }),
        }),
      }),
    });
    const client = new Stepwise({ id: "mw", logger: silentLogger, middleware: [tag] });
    const echo = client.createFunction({ id: "echo", retries: 0 }, { event: "mw/echo" }, ({ event }) => event.data);
    const sender = client.createFunction({ id: "sender", retries: 0 }, { event: "mw/send" }, async ({ step }) => {
      const sent = await step.sendEvent("out", { name: "mw/echo", data: { from: "step" } });
      return sent;
    });
    const { engine } = await startEngine({ database: ":memory:", client, functions: [echo, sender] });
    const direct = await sendAndWait(engine, client, { name: "mw/echo", data: { from: "client" } });
    expect(direct.output).toEqual({ from: "client", tagged: true });
    const result = await client.send({ name: "mw/noop" });
    expect(result).toMatchObject({ extra: "yes" });

    const viaStep = await sendAndWait(engine, client, { name: "mw/send" });
    expect(viaStep.status).toBe("Completed");
    const ids = (viaStep.output as { ids: string[] }).ids;
    const [echoed] = await engine.listRuns({ eventId: ids[0] });
    const done = await engine.waitForRun(echoed!.id, { timeoutMs: 10_000 });
    expect(done.output).toEqual({ from: "step", tagged: true });
  });

  it("a send whose transformInput throws rejects and stores nothing", async () => {
    const refuse = new InngestMiddleware({
      name: "refuse",
      init: () => ({
        onSendEvent: () => ({
          transformInput: () => {
            throw new Error("not today");
          },
        }),
      }),
    });
    const client = new Stepwise({ id: "mw", logger: silentLogger, middleware: [refuse] });
    let ran = 0;
    const fn = client.createFunction({ id: "never", retries: 0 }, { event: "mw/refused" }, () => ran++);
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    await expect(client.send({ name: "mw/refused" })).rejects.toThrow('middleware "refuse" failed in onSendEvent.transformInput: not today');
    expect(await engine.listRuns({ functionId: "mw-never" })).toEqual([]);
    expect(ran).toBe(0);
  });

  it("an error thrown in a hook fails the call with the middleware and hook named", async () => {
    const broken = (hook: string) =>
      new InngestMiddleware({
        name: `broken-${hook}`,
        init: () => ({
          onFunctionRun: () => ({
            [hook]: () => {
              throw new Error(`${hook} exploded`);
            },
          }),
        }),
      });
    for (const hook of ["transformInput", "beforeExecution", "transformOutput", "finished"]) {
      const client = new Stepwise({ id: "mw", logger: silentLogger });
      let ran = 0;
      const fn = client.createFunction({ id: `f-${hook}`, retries: 0, middleware: [broken(hook)] }, { event: `mw/${hook}` }, () => {
        ran++;
        return "ok";
      });
      const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
      const run = await sendAndWait(engine, client, { name: `mw/${hook}` });
      expect(run.status, hook).toBe("Failed");
      expect(run.error, hook).toMatchObject({
        name: "MiddlewareError",
        message: `middleware "broken-${hook}" failed in onFunctionRun.${hook}: ${hook} exploded`,
      });
      expect(ran, hook).toBe(hook === "transformInput" || hook === "beforeExecution" ? 0 : 1);
    }
  });

  it("a failing init fails each call, and a send, naming the middleware", async () => {
    const bad = new InngestMiddleware({
      name: "bad-init",
      init: async () => {
        throw new Error("no database");
      },
    });
    const client = new Stepwise({ id: "mw", logger: silentLogger });
    const fn = client.createFunction({ id: "f", retries: 0, middleware: [bad] }, { event: "mw/bad" }, () => "ok");
    const { engine } = await startEngine({ database: ":memory:", client, functions: [fn] });
    const run = await sendAndWait(engine, client, { name: "mw/bad" });
    expect(run).toMatchObject({ status: "Failed", error: { name: "MiddlewareError", message: 'middleware "bad-init" failed in init: no database' } });

    const sendingClient = new Stepwise({ id: "mw2", logger: silentLogger, middleware: [bad] });
    await expect(sendingClient.send({ name: "x" })).rejects.toThrow('middleware "bad-init" failed in init: no database');
  });

  it("rejects a middleware option that is not middleware, naming the entry", () => {
    expect(() => new Stepwise({ id: "mw", middleware: [{ name: "x" } as never] })).toThrow(
      'new Stepwise({ middleware }): "middleware[0]" must be an InngestMiddleware or a class extending Middleware.BaseMiddleware',
    );
    expect(() => new InngestMiddleware({ name: "", init: () => ({}) })).toThrow(/"name" must be a non-empty string/);
  });
});
