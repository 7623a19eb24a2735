/**
 * Ordered fan-out (beyond Inngest): `step.sendEvent(id, events, { order: "preserve" })`
 * starts the runs of the events in the events' order, with several workers on one
 * engine and with two engines (nodes) on one database; a cancelled run of the chain
 * does not stall the rest.
 */

import { join } from "node:path";
import { Stepwise, silentLogger } from "stepwise";
import { describe, expect, it } from "vitest";
import { startEngine, tempDir, until } from "./helpers.ts";

function setup(count: number, order: "preserve" | undefined, begun: number[] = [], firstLater = 0) {
  const c = new Stepwise({ id: "ofo", logger: silentLogger });
  const fanOut = c.createFunction({ id: "fan-out" }, { event: "o/go" }, async ({ step }) =>
    step.sendEvent(
      "send",
      Array.from({ length: count }, (_, i) => ({ name: "o/item", data: { i }, ...(i === 0 && firstLater ? { ts: Date.now() + firstLater } : {}) })),
      order ? { order } : undefined,
    ),
  );
  const item = c.createFunction({ id: "item" }, { event: "o/item" }, async ({ event, step }) => {
    begun.push(event.data.i as number);
    // uneven work, so runs claimed together would interleave
    await new Promise((r) => setTimeout(r, ((event.data.i as number) * 7) % 13));
    return step.run("done", () => event.data.i);
  });
  return { c, begun, functions: [fanOut, item] };
}

async function startedOrder(engine: Awaited<ReturnType<typeof startEngine>>["engine"], count: number) {
  let runs = await engine.listRuns({ functionId: "ofo-item", limit: 1000 });
  await until(async () => {
    runs = await engine.listRuns({ functionId: "ofo-item", limit: 1000 });
    return runs.length === count && runs.every((r) => r.status === "Completed");
  }, 20_000);
  expect(runs.every((r) => r.status === "Completed")).toBe(true);
  return runs;
}

describe("step.sendEvent with order: preserve", () => {
  it("starts the runs in the order of the events, with many workers", async () => {
    const n = 25;
    const { c, begun, functions } = setup(n, "preserve");
    const { engine } = await startEngine({ client: c, functions, concurrency: 16 });
    await c.send({ name: "o/go" });
    const runs = await startedOrder(engine, n);
    expect(begun).toEqual(Array.from({ length: n }, (_, i) => i));
    const byStart = [...runs].sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0) || (a.id < b.id ? -1 : 1));
    expect(byStart.map((r) => r.output)).toEqual(Array.from({ length: n }, (_, i) => i));
  }, 30_000);

  it("keeps the events' order over their times: a later first event holds the rest (without the option they pass it)", async () => {
    for (const order of ["preserve", undefined] as const) {
      const { c, begun, functions } = setup(4, order, [], 300);
      const { engine } = await startEngine({ client: c, functions, concurrency: 16 });
      await c.send({ name: "o/go" });
      await startedOrder(engine, 4);
      if (order) expect(begun).toEqual([0, 1, 2, 3]);
      else expect(begun.at(-1)).toBe(0); // due last, started last
      await engine.close();
    }
  }, 30_000);

  it("keeps the order across two engines (nodes) on one database", async () => {
    const n = 20;
    const database = join(tempDir(), "ordered.db");
    const begun: number[] = [];
    const a = setup(n, "preserve", begun);
    const b = setup(n, "preserve", begun);
    const { engine } = await startEngine({ database, client: a.c, functions: a.functions, concurrency: 8 });
    const other = await startEngine({ database, client: b.c, functions: b.functions, concurrency: 8 });
    await a.c.send({ name: "o/go" });
    const runs = await startedOrder(engine, n);
    // one process, two nodes: the handlers began in the events' order, whichever node ran them
    expect(begun).toEqual(Array.from({ length: n }, (_, i) => i));
    const byIndex = [...runs].sort((x, y) => (x.output as number) - (y.output as number));
    for (let k = 1; k < n; k++) expect(byIndex[k]?.startedAt ?? 0).toBeGreaterThanOrEqual(byIndex[k - 1]?.startedAt ?? 0);
    expect(other.engine).toBeDefined();
  }, 40_000);

  it("a run of the chain cancelled before it starts does not stall the runs after it", async () => {
    const c = new Stepwise({ id: "ofo", logger: silentLogger });
    const begun: number[] = [];
    const fanOut = c.createFunction({ id: "fan-out" }, { event: "o/go" }, async ({ step }) =>
      step.sendEvent(
        "send",
        // the first run is due later: the others are held behind it
        [0, 1, 2].map((i) => ({ name: "o/item", data: { i }, ...(i === 0 ? { ts: Date.now() + 60_000 } : {}) })),
        { order: "preserve" },
      ),
    );
    const item = c.createFunction({ id: "item" }, { event: "o/item" }, async ({ event }) => {
      begun.push(event.data.i as number);
      return event.data.i;
    });
    const { engine } = await startEngine({ client: c, functions: [fanOut, item] });
    await c.send({ name: "o/go" });
    let runs = await engine.listRuns({ functionId: "ofo-item" });
    await until(async () => {
      runs = await engine.listRuns({ functionId: "ofo-item" });
      return runs.length === 3;
    });
    expect(runs.map((r) => r.status)).toEqual(["Queued", "Queued", "Queued"]);
    // the second and third wait for the one before each: a chain first -> second -> third
    const waits = new Map<string, unknown>();
    for (const r of runs) waits.set(r.id, (await engine.getRun(r.id))?.waitingOn);
    const head = runs.find((r) => (waits.get(r.id) as { kind?: string } | undefined)?.kind !== "order");
    const second = runs.find((r) => (waits.get(r.id) as { key?: string } | undefined)?.key === head?.id);
    const third = runs.find((r) => (waits.get(r.id) as { key?: string } | undefined)?.key === second?.id);
    expect(head).toBeDefined();
    expect(waits.get(second?.id as string)).toEqual({ kind: "order", key: head?.id });
    expect(waits.get(third?.id as string)).toEqual({ kind: "order", key: second?.id });
    await new Promise((r) => setTimeout(r, 200));
    // held: nothing started while the first run waits for its time
    expect(begun).toEqual([]);
    await engine.cancelRun(head?.id as string);
    await until(async () => (await engine.listRuns({ functionId: "ofo-item" })).filter((r) => r.status === "Completed").length === 2);
    expect(begun).toEqual([1, 2]);
  }, 20_000);
});
