/**
 * `createTestEngine` from `stepwise/test`: the real engine on `:memory:` with a manual
 * clock. Days of sleeps, wait timeouts, throttles, debounces and retries pass in
 * milliseconds; each test checks it finished in well under a second of real time.
 */
import { Stepwise, silentLogger } from "stepwise";
import { createTestEngine, type TestEngine } from "stepwise/test";
import { afterEach, describe, expect, it } from "vitest";

const day = 86_400_000;
const open: TestEngine[] = [];
let startedAt = 0;

afterEach(async () => {
  while (open.length) await open.pop()?.close();
  // every test here runs on the manual clock: well under a second of real time
  expect(Date.now() - startedAt).toBeLessThan(1_000);
});

async function kit(options: Parameters<typeof createTestEngine>[0]) {
  startedAt = Date.now();
  const t = await createTestEngine(options);
  open.push(t);
  return t;
}

const c = new Stepwise({ id: "kit", logger: silentLogger });

describe("createTestEngine", () => {
  it('a three-day sleep: sleeping before "3d" has passed, done after, with the sleep\'s times on the clock', async () => {
    const fn = c.createFunction({ id: "nap" }, { event: "kit/nap" }, async ({ step }) => {
      await step.run("before", () => "b");
      await step.sleep("wait", "3d");
      return step.run("after", () => "a");
    });
    const t = await kit({ functions: [fn] });
    const start = t.now();
    const { runIds } = await t.send({ name: "kit/nap" });
    const runId = runIds[0] as string;
    expect(runIds).toHaveLength(1);
    expect((await t.run(runId)).status).toBe("Running");
    await t.advance("2d");
    expect((await t.steps(runId)).map((s) => [s.name, s.status])).toEqual([
      ["before", "Completed"],
      ["wait", "Sleeping"],
    ]);
    await t.advance("1d");
    const run = await t.run(runId);
    expect(run).toMatchObject({ status: "Completed", output: "a" });
    const sleep = run.steps.find((s) => s.name === "wait");
    expect(sleep?.endedAt).toBe(start + 3 * day);
    expect(t.now()).toBe(start + 3 * day);
  });

  it("advance fires the work due on the way in order: a second sleep armed on the way is due at its own time", async () => {
    const fn = c.createFunction({ id: "two-naps" }, { event: "kit/two" }, async ({ step }) => {
      await step.sleep("first", "1d");
      const mid = await step.run("mid", () => "m");
      await step.sleep("second", "1d");
      return mid;
    });
    const t = await kit({ functions: [fn] });
    const start = t.now();
    const { runIds } = await t.send({ name: "kit/two" });
    await t.advance("2d");
    const run = await t.run(runIds[0] as string);
    expect(run.status).toBe("Completed");
    expect(run.steps.find((s) => s.name === "first")?.endedAt).toBe(start + day);
    expect(run.steps.find((s) => s.name === "second")?.endedAt).toBe(start + 2 * day);
  });

  it("waitForEvent: times out (null) once its timeout has passed, and receives an event sent in time", async () => {
    const fn = c.createFunction({ id: "approve" }, { event: "kit/requested" }, async ({ step }) => {
      const reply = await step.waitForEvent("approval", { event: "kit/approved", match: "data.id", timeout: "7d" });
      return reply ? { approved: reply.data.by } : { approved: false };
    });
    const t = await kit({ functions: [fn] });
    const late = (await t.send({ name: "kit/requested", data: { id: "a" } })).runIds[0] as string;
    const quick = (await t.send({ name: "kit/requested", data: { id: "b" } })).runIds[0] as string;
    await t.advance("6d");
    expect((await t.run(late)).status).toBe("Running");
    await t.send({ name: "kit/approved", data: { id: "b", by: "ada" } });
    expect(await t.run(quick)).toMatchObject({ status: "Completed", output: { approved: "ada" } });
    expect((await t.run(late)).status).toBe("Running");
    await t.advance("1d");
    expect(await t.run(late)).toMatchObject({ status: "Completed", output: { approved: false } });
  });

  it("throttle: one run per hour per key; the held ones start as the clock passes each hour", async () => {
    const fn = c.createFunction(
      { id: "sync", throttle: { limit: 1, period: "1h", key: "event.data.account" } },
      { event: "kit/sync" },
      async ({ event }) => event.data.n,
    );
    const t = await kit({ functions: [fn] });
    await t.send([1, 2, 3].map((n) => ({ name: "kit/sync", data: { account: "acme", n } })));
    await t.send({ name: "kit/sync", data: { account: "other", n: 9 } });
    const completed = async () =>
      (await t.runs({ functionId: "sync", status: "Completed" }))
        .map((r) => r.output)
        .sort()
        .join(",");
    expect(await completed()).toBe("1,9");
    const held = (await t.runs({ functionId: fn, status: "Queued" })).map((r) => r.waitingOn?.kind);
    expect(held).toEqual(["throttle", "throttle"]);
    await t.advance("59m");
    expect(await completed()).toBe("1,9");
    await t.advance("1m");
    expect(await completed()).toBe("1,2,9");
    await t.advance("1h");
    expect(await completed()).toBe("1,2,3,9");
  });

  it("debounce: one run with the last event, once the period has passed with no newer event", async () => {
    const fn = c.createFunction({ id: "save", debounce: { period: "5m", key: "event.data.doc" } }, { event: "kit/edit" }, async ({ event }) => event.data.rev);
    const t = await kit({ functions: [fn] });
    await t.send({ name: "kit/edit", data: { doc: "d", rev: 1 } });
    await t.advance("4m");
    await t.send({ name: "kit/edit", data: { doc: "d", rev: 2 } });
    await t.advance("4m");
    expect(await t.runs({ functionId: fn, status: "Completed" })).toEqual([]);
    await t.advance("1m");
    const runs = await t.runs({ functionId: fn });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "Completed", output: 2 });
  });

  it("waitForRun passes real retry backoff on the clock, and says what a run that cannot end waits for", async () => {
    let calls = 0;
    const flaky = c.createFunction({ id: "flaky", retries: 3 }, { event: "kit/flaky" }, async ({ step }) =>
      step.run("call", () => {
        calls++;
        if (calls < 3) throw new Error(`fail ${calls}`);
        return "ok";
      }),
    );
    const waiting = c.createFunction({ id: "waiting" }, { event: "kit/wait" }, async ({ step }) => step.waitForSignal("sig", { signal: "go", timeout: "1y" }));
    const t = await kit({ functions: [flaky, waiting] });
    const { ids } = await t.send({ name: "kit/flaky" });
    const run = await t.waitForRun({ eventId: ids[0] as string });
    expect(run).toMatchObject({ status: "Completed", output: "ok" });
    expect(run.steps[0]).toMatchObject({ name: "call", attempts: 3 });
    expect(t.now()).toBeGreaterThan(Date.UTC(2026, 0, 1));
    const { runIds } = await t.send({ name: "kit/wait" });
    await expect(t.waitForRun(runIds[0] as string, { within: "1d" })).rejects.toMatchObject({ code: "timeout", message: /is Running/ });
    await t.engine.sendSignal("go", { ok: 1 });
    expect(await t.waitForRun({ functionId: "waiting" })).toMatchObject({ status: "Completed", output: { signal: "go", data: { ok: 1 } } });
  });

  it("cron: advancing three hours fires the hourly schedule three times, each at its tick", async () => {
    const fn = c.createFunction({ id: "hourly" }, { cron: "0 * * * *" }, async ({ step }) => step.run("tick", () => "t"));
    const t = await kit({ functions: [fn], now: Date.UTC(2026, 2, 1, 0, 30) });
    expect(await t.runs({ functionId: fn })).toEqual([]);
    await t.advance("3h");
    const runs = await t.runs({ functionId: fn });
    expect(runs.map((r) => [r.status, new Date(r.createdAt).toISOString()]).reverse()).toEqual([
      ["Completed", "2026-03-01T01:00:00.000Z"],
      ["Completed", "2026-03-01T02:00:00.000Z"],
      ["Completed", "2026-03-01T03:00:00.000Z"],
    ]);
  });

  it("client.send and step.sendEvent reach the engine; onFailure runs", async () => {
    const client = new Stepwise({ id: "kit-client", logger: silentLogger });
    const parent = client.createFunction({ id: "parent" }, { event: "kit/parent" }, async ({ step }) => {
      await step.sendEvent("fan-out", { name: "kit/child", data: { n: 1 } });
    });
    const child = client.createFunction(
      { id: "child", retries: 0, onFailure: async ({ error }) => `handled: ${error.message}` },
      { event: "kit/child" },
      async () => {
        throw new Error("child failed");
      },
    );
    const t = await kit({ functions: [parent, child], client });
    await client.send({ name: "kit/parent" });
    await t.settle();
    expect(await t.runs({ functionId: "child" })).toEqual([expect.objectContaining({ status: "Failed" })]);
    expect(await t.runs({ functionId: "child-failure" })).toEqual([expect.objectContaining({ status: "Completed", output: "handled: child failed" })]);
  });

  it("settling waits for calls in flight: a step awaiting real I/O has finished when send returns", async () => {
    const order: string[] = [];
    const fn = c.createFunction({ id: "io" }, { event: "kit/io" }, async ({ step }) => {
      await step.run("slow", () => new Promise((resolve) => setTimeout(() => resolve(order.push("slow")), 30)));
      await step.run("then", () => order.push("then"));
    });
    const t = await kit({ functions: [fn] });
    expect(t.engine.isIdle()).toBe(true);
    const sent = t.send({ name: "kit/io" });
    const { runIds } = await sent;
    expect(order).toEqual(["slow", "then"]);
    expect((await t.engine.getRun(runIds[0] as string))?.status).toBe("Completed");
    expect(t.engine.isIdle()).toBe(true);
    expect(t.clock.nextTimerAt()).toBeGreaterThan(t.now());
    await t.engine.send({ name: "kit/io" });
    expect(t.engine.isIdle()).toBe(false);
    await t.settle();
    expect(t.engine.isIdle()).toBe(true);
    expect(order).toEqual(["slow", "then", "slow", "then"]);
  });

  it("bad input is refused with a typed error naming the field", async () => {
    const t = await kit({ functions: [] });
    await expect(t.advance("soon")).rejects.toMatchObject({ code: "invalid_argument", message: /advance\(duration\)/ });
    await expect(t.run("nope")).rejects.toMatchObject({ code: "not_found" });
    await expect(createTestEngine({ functions: [{} as never] })).rejects.toMatchObject({ code: "invalid_argument", message: /functions\[0\]/ });
  });
});
