/**
 * Flow control on a real SQLite file: concurrency limits and keys.
 */
import { Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { runsOf, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "fc", logger: silentLogger });

describe("concurrency", () => {
  it("per-user key with limit 1: one executing call per user, other users unaffected, FIFO per user", async () => {
    const c = client();
    const executing = new Map<string, number>();
    let maxPerUser = 0;
    const order: Record<string, number[]> = {};
    const fn = c.createFunction(
      { id: "per-user", concurrency: { limit: 1, key: "event.data.user", order: "fifo" } },
      { event: "fc/job" },
      async ({ event, step }) => {
        return step.run("work", async () => {
          const user = String(event.data.user);
          executing.set(user, (executing.get(user) ?? 0) + 1);
          maxPerUser = Math.max(maxPerUser, executing.get(user) ?? 0);
          (order[user] ??= []).push(Number(event.data.n));
          await new Promise((r) => setTimeout(r, 40));
          executing.set(user, (executing.get(user) ?? 1) - 1);
          return event.data.n;
        });
      },
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const hot = Array.from({ length: 8 }, (_, n) => ({ name: "fc/job", data: { user: "hot", n } }));
    const { ids } = await c.send(hot);
    const cold = await c.send({ name: "fc/job", data: { user: "cold", n: 100 } });
    const coldRun = (await runsOf(engine, cold.ids[0]))[0]!;
    // the cold user's run is not stuck behind the hot user's queue
    const coldDone = await engine.waitForRun(coldRun.id, { timeoutMs: 5_000 });
    const hotRuns = await Promise.all(ids.map(async (id) => (await runsOf(engine, id))[0]!));
    const stillQueued = await Promise.all(hotRuns.map((r) => engine.getRun(r.id)));
    expect(coldDone.status).toBe("Completed");
    expect(stillQueued.filter((r) => r?.status === "Completed").length).toBeLessThan(8);
    const waiting = stillQueued.find((r) => r?.waitingOn);
    expect(waiting?.waitingOn).toEqual({ kind: "concurrency", key: '"hot"', limit: 1 });
    for (const r of hotRuns) await engine.waitForRun(r.id, { timeoutMs: 10_000 });
    expect(maxPerUser).toBe(1);
    expect(order.hot).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("limits executing steps, not sleeping runs", async () => {
    const c = client();
    let executing = 0;
    let peak = 0;
    const fn = c.createFunction({ id: "sleepy", concurrency: 2 }, { event: "fc/sleepy" }, async ({ step }) => {
      await step.sleep("nap", "200ms");
      return step.run("work", async () => {
        peak = Math.max(peak, ++executing);
        await new Promise((r) => setTimeout(r, 20));
        executing--;
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const { ids } = await c.send(Array.from({ length: 6 }, () => ({ name: "fc/sleepy" })));
    const runs = (await Promise.all(ids.map((id) => runsOf(engine, id)))).flat();
    // all six reach their sleep at once: sleeping holds no slot
    await until(async () => (await Promise.all(runs.map((r) => engine.getRun(r.id)))).every((r) => r?.steps.some((s) => s.status === "Sleeping")), 2_000);
    const asleep = await Promise.all(runs.map((r) => engine.getRun(r.id)));
    expect(asleep.every((r) => r?.steps.some((s) => s.status === "Sleeping"))).toBe(true);
    for (const r of runs) await engine.waitForRun(r.id, { timeoutMs: 10_000 });
    expect(peak).toBe(2);
  });
});

describe("admission rules end to end", () => {
  it("seed: sync-to-crm with throttle 100/1m and concurrency 5", async () => {
    const c = client();
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    let executing = 0;
    let peak = 0;
    const fn = c.createFunction(
      { id: "sync-to-crm", throttle: { limit: 100, period: "1m" }, concurrency: 5 },
      { event: "crm/contact.updated" },
      async ({ step, event }) => {
        return step.run("push", async () => {
          peak = Math.max(peak, ++executing);
          await new Promise((r) => setTimeout(r, 1));
          executing--;
          return event.data.id;
        });
      },
    );
    const { engine } = await startEngine({ client: c, functions: [fn], clock });
    await c.send(Array.from({ length: 150 }, (_, id) => ({ name: "crm/contact.updated", data: { id } })));
    const completed = async () => (await engine.listRuns({ status: "Completed", limit: 1000 })).length;
    await until(async () => (await completed()) === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(await completed()).toBe(1); // one start now, the rest spaced 0.6 s apart
    clock.advance(60_000);
    await until(async () => (await completed()) >= 101);
    await new Promise((r) => setTimeout(r, 50));
    expect(await completed()).toBe(101);
    clock.advance(60_000);
    await until(async () => (await completed()) === 150);
    expect(await completed()).toBe(150);
    expect(peak).toBeLessThanOrEqual(5);
  });

  it("rate-limited events are recorded as Skipped with the reason, visible in the run list", async () => {
    const c = client();
    const fn = c.createFunction({ id: "limited", rateLimit: { limit: 2, period: "1h", key: "event.data.user" } }, { event: "fc/limited" }, async () => "ran");
    const { engine } = await startEngine({ client: c, functions: [fn] });
    await c.send(Array.from({ length: 5 }, () => ({ name: "fc/limited", data: { user: "u1" } })));
    await c.send({ name: "fc/limited", data: { user: "u2" } });
    await until(async () => (await engine.listRuns({ status: "Completed" })).length === 3);
    const skipped = await engine.listRuns({ status: "Skipped" });
    expect(skipped).toHaveLength(3);
    expect(skipped[0]?.error).toEqual({ name: "RateLimitedError", message: 'skipped: rateLimit of 2 per 1h reached for key "u1"' });
  });

  it("singleton skip drops a second run while the first lives; cancel replaces it", async () => {
    const c = client();
    const skip = c.createFunction({ id: "single-skip", singleton: { key: "event.data.user", mode: "skip" } }, { event: "fc/skip" }, async ({ step }) =>
      step.sleep("hold", "1h"),
    );
    const cancel = c.createFunction({ id: "single-cancel", singleton: { key: "event.data.user", mode: "cancel" } }, { event: "fc/cancel" }, async ({ step }) =>
      step.sleep("hold", "1h"),
    );
    const { engine } = await startEngine({ client: c, functions: [skip, cancel] });
    const first = await c.send({ name: "fc/skip", data: { user: "u" } });
    const second = await c.send({ name: "fc/skip", data: { user: "u" } });
    expect((await runsOf(engine, second.ids[0]))[0]).toMatchObject({ status: "Skipped", error: { name: "SingletonSkippedError" } });
    expect((await runsOf(engine, first.ids[0]))[0]?.status).not.toBe("Skipped");
    const old = await c.send({ name: "fc/cancel", data: { user: "u" } });
    const oldRun = (await runsOf(engine, old.ids[0]))[0]!;
    const fresh = await c.send({ name: "fc/cancel", data: { user: "u" } });
    expect((await engine.waitForRun(oldRun.id, { timeoutMs: 5_000 })).status).toBe("Cancelled");
    expect((await runsOf(engine, fresh.ids[0]))[0]?.status).not.toBe("Cancelled");
  });

  it("a debounced function runs once with the last event; batches hand the handler every event", async () => {
    const c = client();
    const debounced = c.createFunction(
      { id: "debounced", debounce: { period: "1s", key: "event.data.doc" } },
      { event: "fc/edit" },
      async ({ event }) => event.data.rev,
    );
    const batched = c.createFunction({ id: "batched", batchEvents: { maxSize: 3, timeout: "10s" } }, { event: "fc/item" }, async ({ events }) =>
      events.map((e) => e.data.n),
    );
    const { engine } = await startEngine({ client: c, functions: [debounced, batched] });
    for (const rev of [1, 2, 3]) await c.send({ name: "fc/edit", data: { doc: "d", rev } });
    await c.send([1, 2, 3].map((n) => ({ name: "fc/item", data: { n } })));
    await until(async () => (await engine.listRuns({ functionId: "fc-batched", status: "Completed" })).length === 1);
    expect((await engine.listRuns({ functionId: "fc-batched" }))[0]?.output).toEqual([1, 2, 3]);
    const runs = await engine.listRuns({ functionId: "fc-debounced" });
    expect(runs).toHaveLength(1);
    const done = await engine.waitForRun(runs[0]!.id, { timeoutMs: 5_000 });
    expect(done.output).toBe(3);
  });

  it("priority jumps a run ahead of work queued up to that many seconds earlier", async () => {
    const c = client();
    const order: string[] = [];
    const hog = c.createFunction({ id: "hog" }, { event: "fc/hog" }, async ({ step }) => step.run("busy", () => new Promise((r) => setTimeout(r, 200))));
    const fn = c.createFunction({ id: "prioritized", priority: { run: "event.data.vip ? 60 : 0" } }, { event: "fc/task" }, async ({ event, step }) => {
      await step.run("record", () => order.push(String(event.data.name)));
    });
    await startEngine({ client: c, functions: [hog, fn], concurrency: 1 });
    await c.send({ name: "fc/hog" });
    await new Promise((r) => setTimeout(r, 30));
    for (const name of ["a", "b", "c"]) await c.send({ name: "fc/task", data: { name, vip: false } });
    await c.send({ name: "fc/task", data: { name: "vip", vip: true } });
    await until(() => order.length === 4);
    expect(order).toEqual(["vip", "a", "b", "c"]);
  });

  it("a queued run says why it waits: throttle and debounce", async () => {
    const c = client();
    const throttled = c.createFunction({ id: "throttled", throttle: { limit: 1, period: "1h", key: "event.data.k" } }, { event: "fc/t" }, async () => 1);
    const debounced = c.createFunction({ id: "deb", debounce: { period: "1h", key: "event.data.k" } }, { event: "fc/d" }, async () => 1);
    const { engine } = await startEngine({ client: c, functions: [throttled, debounced] });
    await c.send({ name: "fc/t", data: { k: "x" } });
    const second = await c.send({ name: "fc/t", data: { k: "x" } });
    const held = (await runsOf(engine, second.ids[0]))[0]!;
    expect((await engine.getRun(held.id))?.waitingOn).toEqual({ kind: "throttle", key: '"x"', until: expect.any(Number) });
    const d = await c.send({ name: "fc/d", data: { k: "y" } });
    const pending = (await runsOf(engine, d.ids[0]))[0]!;
    expect((await engine.getRun(pending.id))?.waitingOn).toMatchObject({ kind: "debounce", key: '"y"' });
  });

  it("flow-control state survives a restart", async () => {
    const { join } = await import("node:path");
    const { tempDir } = await import("./helpers.ts");
    const database = join(tempDir(), "flow.db");
    const define = () => {
      const c = client();
      return { c, fn: c.createFunction({ id: "once-an-hour", rateLimit: { limit: 1, period: "1h" } }, { event: "fc/hourly" }, async () => "ran") };
    };
    const first = define();
    const a = await startEngine({ database, client: first.c, functions: [first.fn] });
    await first.c.send({ name: "fc/hourly" });
    await a.engine.close();
    const second = define();
    const b = await startEngine({ database, client: second.c, functions: [second.fn] });
    const { ids } = await second.c.send({ name: "fc/hourly" });
    expect((await runsOf(b.engine, ids[0]))[0]?.status).toBe("Skipped");
  });

  it("scope: account shares one limit across functions using the same key", async () => {
    const c = client();
    let executing = 0;
    let peak = 0;
    const work = async () => {
      peak = Math.max(peak, ++executing);
      await new Promise((r) => setTimeout(r, 15));
      executing--;
    };
    const shared = { concurrency: { limit: 1, scope: "account" as const, key: '"openai"' } };
    const a = c.createFunction({ id: "summarize", ...shared }, { event: "fc/summarize" }, async ({ step }) => step.run("call", work));
    const b = c.createFunction({ id: "translate", ...shared }, { event: "fc/translate" }, async ({ step }) => step.run("call", work));
    const { engine } = await startEngine({ client: c, functions: [a, b] });
    const sent = await c.send([...Array.from({ length: 4 }, () => ({ name: "fc/summarize" })), ...Array.from({ length: 4 }, () => ({ name: "fc/translate" }))]);
    const runs = (await Promise.all(sent.ids.map((id) => runsOf(engine, id)))).flat();
    for (const r of runs) await engine.waitForRun(r.id, { timeoutMs: 10_000 });
    expect(runs).toHaveLength(8);
    expect(peak).toBe(1);
  });

  it("batchEvents.if batches only matching events; a singleton key of false opts out", async () => {
    const c = client();
    const batched = c.createFunction(
      { id: "some-batched", batchEvents: { maxSize: 10, timeout: "1s", if: "event.data.bulk == true" } },
      { event: "fc/mixed" },
      async ({ events }) => events.map((e) => e.data.n),
    );
    const single = c.createFunction(
      { id: "opt-out", singleton: { key: "event.data.exclusive ? event.data.user : false", mode: "skip" } },
      { event: "fc/single" },
      async ({ step }) => step.sleep("hold", "1h"),
    );
    const { engine } = await startEngine({ client: c, functions: [batched, single] });
    await c.send([
      { name: "fc/mixed", data: { n: 1, bulk: true } },
      { name: "fc/mixed", data: { n: 2, bulk: false } },
      { name: "fc/mixed", data: { n: 3, bulk: true } },
    ]);
    await until(async () => (await engine.listRuns({ functionId: "fc-some-batched", status: "Completed" })).length === 2, 5_000);
    const outputs = (await engine.listRuns({ functionId: "fc-some-batched" })).map((r) => r.output).sort();
    expect(outputs).toEqual([[1, 3], [2]]);
    await c.send([
      { name: "fc/single", data: { user: "u", exclusive: false } },
      { name: "fc/single", data: { user: "u", exclusive: false } },
      { name: "fc/single", data: { user: "v", exclusive: true } },
      { name: "fc/single", data: { user: "v", exclusive: true } },
    ]);
    const statuses = (await engine.listRuns({ functionId: "fc-opt-out" })).map((r) => r.status);
    expect(statuses.filter((s) => s === "Skipped")).toHaveLength(1);
    expect(statuses).toHaveLength(4);
  });
});

describe("blocked due work", () => {
  it("a full concurrency key does not make the worker spin on the store", async () => {
    const c = client();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fn = c.createFunction({ id: "one-at-a-time", concurrency: 1 }, { event: "fc/one" }, async ({ step }) => step.run("work", () => held));
    const { engine } = await startEngine({ client: c, functions: [fn], pollMs: 1_000 });
    let claims = 0;
    const claim = engine.store.claimQueueItems.bind(engine.store);
    engine.store.claimQueueItems = (params) => {
      claims++;
      return claim(params);
    };
    await c.send(Array.from({ length: 5 }, (_, n) => ({ name: "fc/one", data: { n } })));
    await until(async () => (await engine.listRuns({ status: "Running" })).length === 1);
    // one run holds the only slot; four are due and blocked behind it for 500 ms
    const before = claims;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const blockedClaims = claims - before;
    release();
    await until(async () => (await engine.listRuns({ status: "Completed" })).length === 5);
    // with a 10 → 250 ms backoff that is about 6 looks; spinning was hundreds
    expect(blockedClaims).toBeLessThan(20);
  });
});
