/**
 * Regression tests for guarantees the engine and its SQLite store owe each other, in one
 * process on a real SQLite file: flow control applies to every way a run is created,
 * batches keep every event, look-backs read past the first page of events, and
 * concurrency-limited work neither shows as running nor escapes its start timeout.
 */
import { Stepwise, silentLogger } from "stepwise";
import { createManualClock } from "stepwise/engine";
import { describe, expect, it } from "vitest";
import { runsOf, startEngine, until } from "./helpers.ts";

const client = () => new Stepwise({ id: "contract", logger: silentLogger });
const terminal = new Set(["Completed", "Failed", "Cancelled", "Skipped"]);
const live = new Set(["Queued", "Running"]);

/** A promise with its resolve function, to hold a step open until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("batchEvents", () => {
  it("with priority, every event reaches exactly one run", async () => {
    const c = client();
    const seen = new Map<string, string[]>();
    const fn = c.createFunction(
      { id: "batched", batchEvents: { maxSize: 3, timeout: "1s" }, priority: { run: "60" } },
      { event: "x/batch" },
      async ({ events, runId }) => {
        seen.set(
          runId,
          events.map((e) => String(e.id)),
        );
        return events.length;
      },
    );
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const sent: string[] = [];
    for (let n = 0; n < 10; n++) {
      const { ids } = await c.send({ name: "x/batch", data: { n } });
      sent.push(...ids);
      await new Promise((r) => setTimeout(r, 30));
    }
    // Every sent event now belongs to a run: once every run has ended, no event is left to arrive.
    const delivered = () => [...seen.values()].reduce((sum, ids) => sum + ids.length, 0);
    await until(async () => {
      if (delivered() >= sent.length) return true;
      const runs = await engine.listRuns({ functionId: fn.config.id, limit: 1000 });
      return runs.length > 0 && runs.every((r) => terminal.has(r.status));
    }, 10_000);
    await until(async () => (await engine.listRuns({ functionId: fn.config.id, limit: 1000 })).every((r) => terminal.has(r.status)), 5_000);

    const arrivals = new Map<string, number>();
    for (const ids of seen.values()) for (const id of ids) arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
    // events sent without an id carry the id send returned
    expect(sent.map((id) => arrivals.get(id) ?? 0)).toEqual(sent.map(() => 1));
  });
});

describe("cron", () => {
  it("ticks go through singleton admission: one live run, the other ticks Skipped", async () => {
    const c = client();
    const clock = createManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 500));
    const fn = c.createFunction({ id: "ticker", singleton: { key: '"all"', mode: "skip" } }, { cron: "* * * * * *" }, async ({ step }) => {
      await step.sleep("long", "1h");
      return "woke";
    });
    const { engine } = await startEngine({ client: c, functions: [fn], clock });
    const runs = () => engine.listRuns({ functionId: fn.config.id, limit: 1000 });
    for (let tick = 1; tick <= 4; tick++) {
      clock.advance(1_000);
      await until(async () => (await runs()).length >= tick, 5_000);
      expect((await runs()).length).toBe(tick);
    }
    // let the live run reach its sleep, so its status is settled
    await until(async () => (await runs()).every((r) => r.status !== "Queued"), 5_000);
    const statuses = (await runs()).map((r) => r.status).sort();
    expect(statuses.filter((s) => live.has(s))).toHaveLength(1);
    expect(statuses.filter((s) => s === "Skipped")).toHaveLength(3);
  });
});

describe("singleton", () => {
  it('mode "cancel" applies to runs started by step.invoke', async () => {
    const c = client();
    const child = c.createFunction({ id: "only-one", singleton: { mode: "cancel" } }, [], async ({ step }) => {
      await step.sleep("long", "1h");
      return "done";
    });
    const parent = c.createFunction({ id: "parent" }, { event: "x/parent" }, async ({ step }) => {
      return step.invoke("call", { function: child });
    });
    const { engine } = await startEngine({ client: c, functions: [child, parent] });
    const children = () => engine.listRuns({ functionId: child.config.id, limit: 1000 });
    const sleeping = async (runId: string) => (await engine.getRun(runId))?.steps.some((s) => s.status === "Sleeping") ?? false;

    await c.send({ name: "x/parent", data: { n: 1 } });
    await until(async () => {
      const [first] = await children();
      return !!first && (await sleeping(first.id));
    }, 5_000);
    const [first] = await children();
    expect(first && (await sleeping(first.id))).toBe(true);

    await c.send({ name: "x/parent", data: { n: 2 } });
    await until(async () => (await children()).length === 2, 5_000);
    const second = (await children()).find((r) => r.id !== first?.id);
    expect(second).toBeDefined();
    await until(async () => (await engine.getRun(second?.id ?? ""))?.status === "Running", 5_000);
    expect((await engine.getRun(second?.id ?? ""))?.status).toBe("Running");

    await until(async () => (await engine.getRun(first?.id ?? ""))?.status === "Cancelled", 5_000);
    expect((await engine.getRun(first?.id ?? ""))?.status).toBe("Cancelled");
  });
});

describe("waitForEvent lookback", () => {
  it("finds a matching event that is not among the first 1,000 in the window", async () => {
    const c = client();
    const fn = c.createFunction({ id: "looker" }, { event: "x/start" }, async ({ step }) => {
      return step.waitForEvent("w", { event: "x/e", timeout: "2s", if: "async.data.n == 1200", lookback: "1h" });
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    await c.send(Array.from({ length: 1000 }, (_, n) => ({ name: "x/e", data: { n } })));
    // the later events are received strictly after the first 1,000
    await new Promise((r) => setTimeout(r, 5));
    for (let from = 1000; from < 1500; from += 250) {
      await c.send(Array.from({ length: 250 }, (_, i) => ({ name: "x/e", data: { n: from + i } })));
    }
    const { ids } = await c.send({ name: "x/start" });
    const [run] = await runsOf(engine, ids[0]);
    const done = await engine.waitForRun(run?.id ?? "", { timeoutMs: 10_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toMatchObject({ name: "x/e", data: { n: 1200 } });
  });
});

describe("concurrency", () => {
  it("timeouts.start cancels a run still waiting for a concurrency slot", async () => {
    const c = client();
    const held = gate();
    let entered = 0;
    const fn = c.createFunction({ id: "one-at-a-time", concurrency: 1, timeouts: { start: "500ms" } }, { event: "x/job" }, async ({ step }) => {
      return step.run("work", async () => {
        entered++;
        await held.opened;
        return "worked";
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    try {
      const a = await c.send({ name: "x/job", data: { n: 1 } });
      const [first] = await runsOf(engine, a.ids[0]);
      await until(() => entered === 1, 5_000);
      expect(entered).toBe(1);
      const b = await c.send({ name: "x/job", data: { n: 2 } });
      const [second] = await runsOf(engine, b.ids[0]);

      await until(async () => terminal.has((await engine.getRun(second?.id ?? ""))?.status ?? ""), 5_000);
      const secondRun = await engine.getRun(second?.id ?? "");
      expect(secondRun?.status).toBe("Cancelled");
      expect(secondRun?.error?.message).toMatch(/timeouts\.start/);
      expect((await engine.getRun(first?.id ?? ""))?.status).toBe("Running");
      expect(entered).toBe(1);
    } finally {
      held.open();
    }
  });

  it("runs waiting for a key's slot stay Queued, with waitingOn, instead of showing as Running", async () => {
    const c = client();
    const held = gate();
    let entered = 0;
    const fn = c.createFunction({ id: "per-key", concurrency: { limit: 1, key: "event.data.k" } }, { event: "x/keyed" }, async ({ step, event }) => {
      return step.run("work", async () => {
        entered++;
        await held.opened;
        return event.data.n;
      });
    });
    const { engine } = await startEngine({ client: c, functions: [fn], concurrency: 4 });
    const runIds: string[] = [];
    try {
      const { ids } = await c.send(Array.from({ length: 200 }, (_, n) => ({ name: "x/keyed", data: { k: "a", n } })));
      for (const id of ids) runIds.push(...(await runsOf(engine, id)).map((r) => r.id));
      expect(runIds).toHaveLength(200);
      await until(() => entered === 1, 5_000);
      expect(entered).toBe(1);
      // the run next in line is known to wait for the key's slot
      const next = runIds[1] ?? "";
      await until(async () => (await engine.getRun(next))?.waitingOn?.kind === "concurrency", 5_000);

      const running = await engine.listRuns({ functionId: fn.config.id, status: "Running", limit: 1000 });
      expect(running.length).toBe(1);
      const waiting = await engine.getRun(next);
      expect(waiting?.status).toBe("Queued");
      expect(waiting?.waitingOn).toEqual({ kind: "concurrency", key: '"a"', limit: 1 });
    } finally {
      held.open();
    }
    const ended = await Promise.all(runIds.map((id) => engine.waitForRun(id, { timeoutMs: 15_000 })));
    expect(ended.filter((r) => r.status === "Completed")).toHaveLength(200);
  });
});
