/**
 * Signals: `step.waitForSignal` with `onConflict` ("fail", the default, or "replace", with
 * Inngest's semantics) and `step.sendSignal` as a durable step, in-process and with the
 * official `inngest` SDK served.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { Stepwise, silentLogger } from "stepwise";
import { serve as serveStepwise } from "stepwise/node";
import { afterAll, describe, expect, it } from "vitest";
import { runsOf, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "sig", logger: silentLogger });

describe("signals in-process", () => {
  async function setup() {
    const c = client();
    const waiter = c.createFunction({ id: "waiter", retries: 0 }, { event: "sig/wait" }, async ({ event, step }) => {
      const conflict = event.data.conflict as "fail" | "replace" | undefined;
      return step.waitForSignal("wait", {
        signal: String(event.data.signal),
        timeout: String(event.data.timeout ?? "1h"),
        ...(conflict ? { onConflict: conflict } : {}),
      });
    });
    const sender = c.createFunction({ id: "sender" }, { event: "sig/send" }, async ({ event, step }) => {
      const sent = await step.sendSignal("notify", { signal: String(event.data.signal), data: { from: "sender" } });
      await step.sleep("replay", "10ms");
      return sent;
    });
    const { engine } = await startEngine({ client: c, functions: [waiter, sender] });
    const start = async (data: Record<string, unknown>) => {
      const { ids } = await c.send({ name: "sig/wait", data });
      const run = (await runsOf(engine, ids[0]))[0];
      if (!run) throw new Error("no run");
      await until(async () => (await engine.getRun(run.id))?.steps.some((s) => s.status === "Waiting" || s.status === "Failed") ?? false);
      return run.id;
    };
    return { c, engine, start };
  }

  it("fails a second wait on a live signal by default, naming the signal and the run holding it", async () => {
    const { engine, start } = await setup();
    const first = await start({ signal: "order-1" });
    const second = await start({ signal: "order-1" });
    const failed = await engine.waitForRun(second, { timeoutMs: 10_000 });
    expect(failed.status).toBe("Failed");
    expect(failed.steps[0]).toMatchObject({ name: "wait", status: "Failed" });
    expect(failed.steps[0]?.error?.name).toBe("SignalConflictError");
    expect(failed.steps[0]?.error?.message).toContain(`signal "order-1" is already waited on by run ${first}`);
    expect(await engine.sendSignal("order-1", { ok: true })).toEqual({ runId: first });
    expect((await engine.waitForRun(first, { timeoutMs: 10_000 })).output).toEqual({ signal: "order-1", data: { ok: true } });
  });

  it("onConflict replace takes the signal over; the replaced wait stays pending until its timeout", async () => {
    const { engine, start } = await setup();
    const old = await start({ signal: "order-2", timeout: "400ms" });
    const replacer = await start({ signal: "order-2", conflict: "replace" });
    expect(await engine.sendSignal("order-2", { n: 1 })).toEqual({ runId: replacer });
    expect((await engine.waitForRun(replacer, { timeoutMs: 10_000 })).output).toEqual({ signal: "order-2", data: { n: 1 } });
    // the old wait received nothing: it is still waiting right after the signal, then times out with null
    expect((await engine.getRun(old))?.status).toBe("Running");
    expect(await engine.waitForRun(old, { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: null });
  });

  it("step.sendSignal resumes the waiter once and is memoized across replays", async () => {
    const { c, engine, start } = await setup();
    const waiting = await start({ signal: "order-3" });
    const { ids } = await c.send({ name: "sig/send", data: { signal: "order-3" } });
    const senderRun = (await runsOf(engine, ids[0]))[0];
    const sent = await engine.waitForRun(senderRun?.id as string, { timeoutMs: 10_000 });
    // after the sleep's replay the step's stored result is returned: had it run again, nobody would wait on the signal
    expect(sent.output).toEqual({ runId: waiting });
    expect(sent.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ["notify", "Completed", 1],
      ["replay", "Completed", 1],
    ]);
    expect((await engine.waitForRun(waiting, { timeoutMs: 10_000 })).output).toEqual({ signal: "order-3", data: { from: "sender" } });
  });

  it("step.sendSignal with no waiter returns no run id; bad options name the field", async () => {
    const c = client();
    const lonely = c.createFunction({ id: "lonely" }, { event: "sig/lonely" }, async ({ step }) => step.sendSignal("s", { signal: "nobody" }));
    const badConflict = c.createFunction({ id: "bad-conflict", retries: 0 }, { event: "sig/bad" }, async ({ step }) =>
      step.waitForSignal("w", { signal: "x", timeout: "1s", onConflict: "ignore" as "fail" }),
    );
    const badSignal = c.createFunction({ id: "bad-signal", retries: 0 }, { event: "sig/bad" }, async ({ step }) => step.sendSignal("s", { signal: "" }));
    const { engine } = await startEngine({ client: c, functions: [lonely, badConflict, badSignal] });
    const { ids } = await c.send({ name: "sig/lonely" });
    expect((await engine.waitForRun((await runsOf(engine, ids[0]))[0]?.id as string)).output).toEqual({});
    const bad = await c.send({ name: "sig/bad" });
    const runs = await Promise.all((await runsOf(engine, bad.ids[0])).map((r) => engine.waitForRun(r.id)));
    const errors = runs.map((r) => r.error?.message).sort();
    expect(errors[0]).toMatch(/step\.sendSignal\("s"\): "signal" must be a non-empty string/);
    expect(errors[1]).toMatch(/step\.waitForSignal\("w"\): "onConflict" must be "fail" or "replace"/);
  });
});

describe("signals with the official inngest SDK", () => {
  let stepwise: RunningServer | undefined;
  let app: Server | undefined;
  afterAll(async () => {
    await stepwise?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it("enforces onConflict fail and replace, and runs step.sendSignal as a memoized step", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const inngest = new Inngest({ id: "sig-compat", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fns = [
      inngest.createFunction({ id: "waiter", retries: 0, triggers: [{ event: "compat/wait" }] }, async ({ event, step }) =>
        step.waitForSignal("wait", { signal: String(event.data.signal), timeout: String(event.data.timeout ?? "1h"), onConflict: event.data.conflict }),
      ),
      inngest.createFunction({ id: "sender", triggers: [{ event: "compat/send" }] }, async ({ event, step }) => {
        const sent = await step.sendSignal("notify", { signal: String(event.data.signal), data: { from: "official" } });
        await step.sleep("replay", "1s");
        return sent;
      }),
    ];
    app = createServer(serve({ client: inngest, functions: fns }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    expect((await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`)).error).toBeUndefined();
    const engine = stepwise.engine;
    const start = async (data: Record<string, unknown>) => {
      const { ids } = await inngest.send({ name: "compat/wait", data });
      let id = "";
      await until(async () => {
        const run = (await engine.listRuns({ eventId: ids[0] as string }))[0];
        id = run?.id ?? "";
        return (run && (await engine.getRun(run.id))?.steps.some((s) => s.status === "Waiting" || s.status === "Failed")) ?? false;
      });
      return id;
    };
    const first = await start({ signal: "o-1", conflict: "fail", timeout: "2s" });
    const dup = await start({ signal: "o-1", conflict: "fail" });
    const failed = await engine.waitForRun(dup, { timeoutMs: 10_000 });
    expect(failed.status).toBe("Failed");
    expect(failed.error?.message).toContain('signal "o-1" is already waited on');
    const replacer = await start({ signal: "o-1", conflict: "replace" });
    const { ids } = await inngest.send({ name: "compat/send", data: { signal: "o-1" } });
    let senderId = "";
    await until(async () => {
      senderId = (await engine.listRuns({ eventId: ids[0] as string }))[0]?.id ?? "";
      return senderId !== "";
    });
    const sent = await engine.waitForRun(senderId, { timeoutMs: 20_000 });
    expect(sent.status).toBe("Completed");
    expect(sent.output).toEqual({ runId: replacer });
    expect(sent.steps.find((s) => s.name === "notify")).toMatchObject({ status: "Completed", attempts: 1 });
    expect((await engine.waitForRun(replacer, { timeoutMs: 10_000 })).output).toMatchObject({ signal: "o-1", data: { from: "official" } });
    expect(await engine.waitForRun(first, { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: null });
  }, 60_000);
});

describe("signals and races with Stepwise's own SDK served", () => {
  let stepwise: RunningServer | undefined;
  let app: Server | undefined;
  afterAll(async () => {
    await stepwise?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it("step.sendSignal posts /v1/signals through the client, and a race abandons its loser", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const c = new Stepwise({ id: "sig-served", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fns = [
      c.createFunction({ id: "waiter" }, { event: "served/wait" }, async ({ step }) => step.waitForSignal("wait", { signal: "served-1", timeout: "1h" })),
      c.createFunction({ id: "sender" }, { event: "served/send" }, async ({ step, group: g }) => {
        const first = await g.parallel(() => Promise.race([step.run("slow", () => gate.then(() => "slow")), step.run("fast", () => "fast")]));
        const sent = await step.sendSignal("notify", { signal: "served-1", data: { first } });
        return sent;
      }),
    ];
    app = createServer(serveStepwise({ client: c, functions: fns }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    expect((await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`)).error).toBeUndefined();
    const engine = stepwise.engine;
    const waitIds = (await c.send({ name: "served/wait" })).ids;
    let waiting = "";
    await until(async () => {
      waiting = (await engine.listRuns({ eventId: waitIds[0] as string }))[0]?.id ?? "";
      return waiting !== "" && ((await engine.getRun(waiting))?.steps.some((s) => s.status === "Waiting") ?? false);
    });
    const sendIds = (await c.send({ name: "served/send" })).ids;
    let sender = "";
    await until(async () => {
      sender = (await engine.listRuns({ eventId: sendIds[0] as string }))[0]?.id ?? "";
      return sender !== "";
    });
    const sent = await engine.waitForRun(sender, { timeoutMs: 15_000 });
    release();
    expect(sent).toMatchObject({ status: "Completed", output: { runId: waiting } });
    expect(Object.fromEntries(sent.steps.map((s) => [s.name, s.status]))).toEqual({ slow: "Abandoned", fast: "Completed", notify: "Completed" });
    expect((await engine.waitForRun(waiting, { timeoutMs: 10_000 })).output).toEqual({ signal: "served-1", data: { first: "fast" } });
  }, 30_000);
});
