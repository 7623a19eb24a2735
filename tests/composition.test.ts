/**
 * step.invoke, cancelOn, timeouts, event-id dedupe, delayed events, system events.
 */
import { type StepError, Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { pollUntil, runsOf, sendAndWait, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "c", logger: silentLogger });

describe("step.invoke", () => {
  it("returns the invoked function's result, throws its failure, and times out", async () => {
    const c = client();
    const double = c.createFunction({ id: "double" }, [], async ({ event, step }) => step.run("double", () => Number(event.data.n) * 2));
    const broken = c.createFunction({ id: "broken", retries: 0 }, [], async () => {
      throw new Error("child exploded");
    });
    const slow = c.createFunction({ id: "slow" }, [], async ({ step }) => {
      await step.sleep("nap", "5s");
      return "late";
    });
    const parent = c.createFunction({ id: "parent" }, { event: "c/parent" }, async ({ step }) => {
      const doubled = await step.invoke("call-double", { function: double, data: { n: 21 } });
      let failure: string | undefined;
      try {
        await step.invoke("call-broken", { function: "c-broken" });
      } catch (error) {
        failure = `${(error as StepError).name}: ${(error as StepError).message}`;
      }
      let timeout: string | undefined;
      try {
        await step.invoke("call-slow", { function: slow, timeout: "200ms" });
      } catch (error) {
        timeout = ((error as StepError).cause as Error).name;
      }
      return { doubled, failure, timeout };
    });
    const { engine } = await startEngine({ client: c, functions: [double, broken, slow, parent] });
    const run = await sendAndWait(engine, c, { name: "c/parent" });
    expect(run.output).toEqual({ doubled: 42, failure: "StepError: child exploded", timeout: "InngestInvokeTimeoutError" });
    const child = (await engine.listRuns({ functionId: "c-double" }))[0];
    expect(child).toMatchObject({ status: "Completed", output: 42 });
  });

  it("fails the step when the target is not registered", async () => {
    const c = client();
    const fn = c.createFunction({ id: "lost" }, { event: "c/lost" }, async ({ step }) => {
      try {
        await step.invoke("nobody", { function: "c-nobody" });
      } catch (error) {
        return (error as StepError).message;
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "c/lost" });
    expect(run.output).toMatch(/no function "c-nobody" is registered/);
  });
});

describe("cancelOn and timeouts", () => {
  it("cancelOn cancels a sleeping run, emits function.cancelled, and ignores other orders", async () => {
    const c = client();
    const effects: string[] = [];
    const fn = c.createFunction(
      { id: "reminder", cancelOn: [{ event: "c/order.cancelled", match: "data.orderId" }] },
      { event: "c/order.created" },
      async ({ step, event }) => {
        await step.run("first", () => effects.push(`first ${event.data.orderId}`));
        await step.sleep("wait-a-day", "1d");
        await step.run("remind", () => effects.push("remind"));
      },
    );
    const cancelled: unknown[] = [];
    const watcher = c.createFunction({ id: "watch" }, { event: "inngest/function.cancelled" }, async ({ event }) => {
      cancelled.push(event.data.run_id);
    });
    const { engine } = await startEngine({ client: c, functions: [fn, watcher] });
    const a = await c.send({ name: "c/order.created", data: { orderId: "o-1" } });
    const b = await c.send({ name: "c/order.created", data: { orderId: "o-2" } });
    const [runA] = await runsOf(engine, a.ids[0]);
    const [runB] = await runsOf(engine, b.ids[0]);
    for (const run of [runA!, runB!]) {
      await pollUntil(
        () => engine.getRun(run.id),
        (r) => r?.steps.some((s) => s.status === "Sleeping") ?? false,
      );
    }
    await c.send({ name: "c/order.cancelled", data: { orderId: "o-1" } });
    const done = await engine.waitForRun(runA!.id, { timeoutMs: 2_000 });
    expect(done.status).toBe("Cancelled");
    expect(done.error?.message).toMatch(/cancelled by event "c\/order.cancelled"/);
    expect((await engine.getRun(runB!.id))?.status).toBe("Running");
    await pollUntil(
      async () => cancelled.length,
      (n) => n === 1,
    );
    expect(cancelled).toEqual([runA!.id]);
    // the two runs are independent: their first steps may run in either order
    expect([...effects].sort()).toEqual(["first o-1", "first o-2"]);
  });

  it("timeouts.start cancels a run that waited too long to start; timeouts.finish one that ran too long", async () => {
    const c = client();
    const late = c.createFunction({ id: "late", timeouts: { start: "100ms" } }, { event: "c/late" }, async () => "started");
    const hog = c.createFunction({ id: "hog" }, { event: "c/hog" }, async ({ step }) => step.run("busy", () => new Promise((r) => setTimeout(r, 400))));
    const long = c.createFunction({ id: "long", timeouts: { finish: "200ms" } }, { event: "c/long" }, async ({ step }) => {
      await step.run("begin", () => 1);
      await step.sleep("too-long", "10s");
      return "finished";
    });
    // one slot, held by the hog: the late run stays queued past its start timeout
    const { engine } = await startEngine({ client: c, functions: [late, long, hog], concurrency: 1 });
    await c.send({ name: "c/hog" });
    await new Promise((r) => setTimeout(r, 20));
    const delayed = await c.send({ name: "c/late" });
    const [lateRun] = await runsOf(engine, delayed.ids[0]);
    const lateDone = await engine.waitForRun(lateRun!.id, { timeoutMs: 3_000 });
    expect(lateDone.status).toBe("Cancelled");
    expect(lateDone.error?.message).toMatch(/did not start within timeouts.start \(100ms\)/);
    const longDone = await sendAndWait(engine, c, { name: "c/long" });
    expect(longDone.status).toBe("Cancelled");
    expect(longDone.error?.message).toMatch(/did not finish within timeouts.finish \(200ms\)/);
  });

  it("cancelOn `if` compares the run's event with the incoming one, and ignores events from before the run", async () => {
    const c = client();
    const fn = c.createFunction(
      { id: "big-orders", cancelOn: [{ event: "c/refund", if: "async.data.order == event.data.order && async.data.amount >= event.data.amount" }] },
      { event: "c/big-order" },
      async ({ step }) => step.sleep("hold", "1d"),
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    await c.send({ name: "c/refund", data: { order: "o9", amount: 100 } });
    const { ids } = await c.send({ name: "c/big-order", data: { order: "o9", amount: 50 } });
    const [run] = await runsOf(engine, ids[0]);
    await pollUntil(
      () => engine.getRun(run!.id),
      (r) => r?.steps.some((s) => s.status === "Sleeping") ?? false,
    );
    // the earlier refund does not count; a smaller one does not match; a full one cancels
    expect((await engine.getRun(run!.id))?.status).toBe("Running");
    await c.send({ name: "c/refund", data: { order: "o9", amount: 10 } });
    expect((await engine.getRun(run!.id))?.status).toBe("Running");
    await c.send({ name: "c/refund", data: { order: "o9", amount: 50 } });
    expect((await engine.waitForRun(run!.id, { timeoutMs: 2_000 })).status).toBe("Cancelled");
  });

  it("engine.cancelRun cancels a waiting run", async () => {
    const c = client();
    const fn = c.createFunction({ id: "waiter" }, { event: "c/wait" }, async ({ step }) => step.waitForEvent("w", { event: "c/never", timeout: "1d" }));
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send({ name: "c/wait" });
    const [run] = await runsOf(engine, ids[0]);
    await pollUntil(
      () => engine.getRun(run!.id),
      (r) => r?.steps.some((s) => s.status === "Waiting") ?? false,
    );
    const cancelled = await engine.cancelRun(run!.id);
    expect(cancelled.status).toBe("Cancelled");
    await expect(engine.cancelRun("missing")).rejects.toThrow(/no run with id missing/);
  });
});

describe("events", () => {
  it("an event id seen in the last 24 h is stored but triggers nothing", async () => {
    const c = client();
    const fn = c.createFunction({ id: "once" }, { event: "c/pay" }, async () => "paid");
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const first = await c.send({ name: "c/pay", id: "payment-123" });
    const second = await c.send({ name: "c/pay", id: "payment-123" });
    expect(await runsOf(engine, first.ids[0])).toHaveLength(1);
    expect(await runsOf(engine, second.ids[0])).toHaveLength(0);
    expect(await engine.store.getEvent(second.ids[0]!)).toMatchObject({ id: "payment-123", name: "c/pay" });
    const batch = await c.send([
      { name: "c/pay", id: "p-1" },
      { name: "c/pay", id: "p-1" },
    ]);
    expect((await runsOf(engine, batch.ids[0])).length + (await runsOf(engine, batch.ids[1])).length).toBe(1);
  });

  it("a future ts delays the runs it starts", async () => {
    const c = client();
    const fn = c.createFunction({ id: "later" }, { event: "c/later" }, async () => Date.now());
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const ts = Date.now() + 300;
    const run = await sendAndWait(engine, c, { name: "c/later", ts } as { name: string });
    expect(run.output as number).toBeGreaterThanOrEqual(ts);
  });

  it("functions trigger on system events such as inngest/function.finished", async () => {
    const c = client();
    const job = c.createFunction({ id: "job" }, { event: "c/job" }, async () => ({ ok: 1 }));
    const audit = c.createFunction(
      { id: "audit" },
      { event: "inngest/function.finished", if: "event.data.function_id == 'c-job'" },
      async ({ event }) => event.data.result,
    );
    const { engine } = await startEngine({ client: c, functions: [job, audit] });
    await sendAndWait(engine, c, { name: "c/job" });
    const audited = await pollUntil(
      () => engine.listRuns({ functionId: "c-audit" }),
      (runs) => runs[0]?.status === "Completed",
    );
    expect(audited[0]?.output).toEqual({ ok: 1 });
  });

  it("rejects bad cancelOn expressions and bad cron at registration", async () => {
    const c = client();
    const { engine } = await startEngine({ client: c });
    const badCancel = c.createFunction({ id: "bc", cancelOn: [{ event: "x", if: "async.data.id ==" }] }, { event: "y" }, async () => 1);
    expect(() => engine.register({ functions: [badCancel] })).toThrow(/function "bc": cancelOn\[0\].if: invalid expression/);
    const badCron = c.createFunction({ id: "cr" }, { cron: "61 * * * *" }, async () => 1);
    expect(() => engine.register({ functions: [badCron] })).toThrow(/function "cr": triggers\[0\].cron: invalid cron "61 \* \* \* \*"/);
    const badTz = c.createFunction({ id: "tz" }, { cron: "TZ=Mars/Base 0 9 * * *" }, async () => 1);
    expect(() => engine.register({ functions: [badTz] })).toThrow(/invalid cron "TZ=Mars\/Base 0 9 \* \* \*": Invalid time zone/);
  });
});
