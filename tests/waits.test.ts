/**
 * step.waitForEvent: matching, timeouts, lookback, fan-in, races; on a real SQLite file.
 */
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { pollUntil, runsOf, sendAndWait, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "w", logger: silentLogger });

/** Waits until the run's step `name` is Waiting. */
async function waiting(engine: Awaited<ReturnType<typeof startEngine>>["engine"], runId: string, name: string) {
  const run = await pollUntil(
    () => engine.getRun(runId),
    (r) => r?.steps.some((s) => s.name === name && s.status === "Waiting") ?? false,
  );
  expect(run?.steps.find((s) => s.name === name)?.status).toBe("Waiting");
}

describe("step.waitForEvent", () => {
  it("the seed order flow: fan out with sendEvent, wait for the matching label, notify", async () => {
    const c = client();
    const received: string[] = [];
    const consumers = ["reserve-inventory", "charge-payment", "request-label"].map((id) =>
      c.createFunction({ id }, { event: "shop/order.confirmed" }, async ({ event }) => {
        received.push(`${id}:${event.data.orderId}`);
        return id;
      }),
    );
    const orderFlow = c.createFunction({ id: "order-flow" }, { event: "shop/order.placed" }, async ({ event, step }) => {
      const order = await step.run("load-order", () => ({ id: String(event.data.orderId), total: 30 }));
      const sent = await step.sendEvent("fan-out", { name: "shop/order.confirmed", data: { orderId: order.id } });
      const label = await step.waitForEvent("wait-for-label", { event: "shipping/label-created", match: "data.orderId", timeout: "7d" });
      const notified = await step.run("notify", () => `order ${order.id} ships with ${label?.data.tracking}`);
      return { sent: sent.ids.length, notified };
    });
    const { engine } = await startEngine({ client: c, functions: [orderFlow, ...consumers] });
    const { ids } = await c.send({ name: "shop/order.placed", data: { orderId: "A-1" } });
    const [run] = await runsOf(engine, ids[0]);
    await waiting(engine, run!.id, "wait-for-label");
    await pollUntil(
      async () => received.length,
      (n) => n === 3,
    );
    expect(received.sort()).toEqual(["charge-payment:A-1", "request-label:A-1", "reserve-inventory:A-1"]);
    await c.send({ name: "shipping/label-created", data: { orderId: "B-2", tracking: "wrong" } });
    await c.send({ name: "shipping/label-created", data: { orderId: "A-1", tracking: "TRK-9" } });
    const done = await engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toEqual({ sent: 1, notified: "order A-1 ships with TRK-9" });
    const wait = done.steps.find((s) => s.name === "wait-for-label");
    expect(wait?.output).toMatchObject({ name: "shipping/label-created", data: { orderId: "A-1", tracking: "TRK-9" } });
    // what the step was asked to wait for is kept beside what it got
    expect(wait?.input).toEqual({ event: "shipping/label-created", timeout: "7d", if: "event.data.orderId == async.data.orderId" });
  });

  it("leaves the wait alone for non-matching events, and returns null on timeout", async () => {
    const c = client();
    const fn = c.createFunction({ id: "short" }, { event: "w/start" }, async ({ step }) =>
      step.waitForEvent("approval", { event: "w/approved", if: "async.data.id == event.data.id && async.data.ok == true", timeout: "300ms" }),
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send({ name: "w/start", data: { id: 7 } });
    const [run] = await runsOf(engine, ids[0]);
    await waiting(engine, run!.id, "approval");
    await c.send([
      { name: "w/approved", data: { id: 8, ok: true } },
      { name: "w/approved", data: { id: 7, ok: false } },
      { name: "w/other", data: { id: 7, ok: true } },
    ]);
    expect((await engine.getRun(run!.id))?.status).toBe("Running");
    const done = await engine.waitForRun(run!.id, { timeoutMs: 5_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toBeNull();
    expect(done.steps[0]).toMatchObject({ name: "approval", status: "Completed", output: null });
  });

  it("matches `if` expressions that are not plain equalities, by evaluation", async () => {
    const c = client();
    const fn = c.createFunction({ id: "range" }, { event: "w/bid" }, async ({ step }) => {
      const better = await step.waitForEvent("better-bid", { event: "w/bid.placed", if: "async.data.amount > event.data.amount", timeout: "5s" });
      return better?.data.amount;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send({ name: "w/bid", data: { amount: 100 } });
    const [run] = await runsOf(engine, ids[0]);
    await waiting(engine, run!.id, "better-bid");
    await c.send({ name: "w/bid.placed", data: { amount: 90 } });
    await c.send({ name: "w/bid.placed", data: { amount: 150.5 } });
    expect((await engine.waitForRun(run!.id)).output).toBe(150.5);
  });

  it("one event resumes every run waiting for it", async () => {
    const c = client();
    const fn = c.createFunction({ id: "many" }, { event: "w/join" }, async ({ step, event }) => {
      const go = await step.waitForEvent("go", { event: "w/go", match: "data.room", timeout: "5s" });
      return `${event.data.who}:${go?.data.room}`;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const sent = await c.send(["a", "b", "c"].map((who) => ({ name: "w/join", data: { who, room: who === "c" ? "r2" : "r1" } })));
    const runs = (await Promise.all(sent.ids.map((id) => runsOf(engine, id)))).flat();
    for (const run of runs) await waiting(engine, run.id, "go");
    await c.send({ name: "w/go", data: { room: "r1" } });
    const [a, b] = await Promise.all(runs.slice(0, 2).map((r) => engine.waitForRun(r.id)));
    expect([a?.output, b?.output]).toEqual(["a:r1", "b:r1"]);
    expect((await engine.getRun(runs[2]!.id))?.status).toBe("Running");
  });

  it("lookback also matches an event received shortly before the wait began", async () => {
    const c = client();
    const define = (id: string, lookback?: string) =>
      c.createFunction({ id }, { event: `w/${id}` }, async ({ step }) => {
        await step.sleep("let-the-event-arrive-first", "150ms");
        const found = await step.waitForEvent("payment", { event: "w/paid", match: "data.order", timeout: "300ms", ...(lookback ? { lookback } : {}) });
        return found?.data.order ?? null;
      });
    const withLookback = define("with", "1m");
    const without = define("without");
    const { engine } = await startEngine({ client: c, functions: [withLookback, without] });
    const a = await c.send({ name: "w/with", data: { order: "o1" } });
    const b = await c.send({ name: "w/without", data: { order: "o1" } });
    await c.send({ name: "w/paid", data: { order: "o1" } });
    const [runA] = await runsOf(engine, a.ids[0]);
    const [runB] = await runsOf(engine, b.ids[0]);
    expect((await engine.waitForRun(runA!.id)).output).toBe("o1");
    expect((await engine.waitForRun(runB!.id)).output).toBeNull();
  });

  it("a bad wait expression fails the run naming the function, step and expression", async () => {
    const c = client();
    const fn = c.createFunction({ id: "typo", retries: 0 }, { event: "w/typo" }, async ({ step }) =>
      step.waitForEvent("w", { event: "x", if: "async.data.id ==", timeout: "1s" }),
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "w/typo" });
    expect(run.status).toBe("Failed");
    expect(run.error?.message).toMatch(/function "typo": step.waitForEvent\("w"\).if: invalid expression "async.data.id =="/);
  });

  it("with 10,000 pending waits, one event resumes exactly the right run", async () => {
    const c = client();
    const fn = c.createFunction({ id: "crowd" }, { event: "w/crowd" }, async ({ step, event }) => {
      const hit = await step.waitForEvent("signal", { event: "w/signal", match: "data.key", timeout: "1h" });
      return { mine: event.data.key, got: hit?.data.key };
    });
    const { engine } = await startEngine({ client: c, functions: [fn], concurrency: 256 });
    const total = 10_000;
    const ids: string[] = [];
    for (let i = 0; i < total; i += 1_000) {
      ids.push(...(await c.send(Array.from({ length: 1_000 }, (_, j) => ({ name: "w/crowd", data: { key: `k${i + j}` } })))).ids);
    }
    await pollUntil(
      async () => {
        const runs = await engine.listRuns({ functionId: "w-crowd", status: "Queued", limit: 1 });
        return runs.length;
      },
      (n) => n === 0,
      60_000,
    );
    const target = (await runsOf(engine, ids[4_321]))[0]!;
    await waiting(engine, target.id, "signal");
    const pending = await pollUntil(
      async () => (await engine.listRuns({ functionId: "w-crowd", status: "Running", limit: 1000 })).length,
      (n) => n === 1000,
    );
    expect(pending).toBe(1000);
    await c.send({ name: "w/signal", data: { key: "k4321" } });
    const done = await engine.waitForRun(target.id, { timeoutMs: 10_000 });
    expect(done.output).toEqual({ mine: "k4321", got: "k4321" });
    const completed = await engine.listRuns({ functionId: "w-crowd", status: "Completed", limit: 1000 });
    expect(completed.map((r) => r.id)).toEqual([target.id]);
  }, 90_000);

  it("step.waitForSignal resumes with the signal's data, returns null on timeout, and 404s when nobody waits", async () => {
    const c = client();
    const fn = c.createFunction({ id: "approval" }, { event: "w/approve" }, async ({ step, event }) => {
      const signal = await step.waitForSignal("approved", { signal: `approve-${event.data.id}`, timeout: event.data.id === "late" ? "200ms" : "1h" });
      return signal;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send([
      { name: "w/approve", data: { id: "o1" } },
      { name: "w/approve", data: { id: "late" } },
    ]);
    const [first] = await runsOf(engine, ids[0]);
    const [late] = await runsOf(engine, ids[1]);
    await waiting(engine, first!.id, "approved");
    expect(await engine.sendSignal("approve-o1", { by: "ada" })).toEqual({ runId: first!.id });
    expect((await engine.waitForRun(first!.id)).output).toEqual({ signal: "approve-o1", data: { by: "ada" } });
    expect((await engine.waitForRun(late!.id)).output).toBeNull();
    await expect(engine.sendSignal("approve-o1", {})).rejects.toThrow(/no run is waiting for signal "approve-o1"/);
  });
});
