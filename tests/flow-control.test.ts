/**
 * Flow control on a real SQLite file: concurrency limits and keys.
 */
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { runsOf, startEngine } from "./helpers.ts";

const client = () => new Stepwise({ id: "fc", logger: silentLogger });

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

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
          await new Promise((r) => setTimeout(r, 15));
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
