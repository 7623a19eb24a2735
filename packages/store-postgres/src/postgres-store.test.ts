import { type EventRecord, type NewQueueItem, newId, PauseKind, QueueItemKind, type RunRecord, type Store } from "@stepwise/engine";
import { runStoreConformance } from "@stepwise/store-conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresStore } from "./postgres-store.ts";
import { createTestDatabase, type TestDatabase } from "./testing.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const open = async () => {
  const store = new PostgresStore({ url: db.url, notify: false });
  await store.migrate();
  return store;
};

runStoreConformance("Postgres", {
  async create() {
    await db.reset();
    return open();
  },
  destroy: (store: Store) => store.close(),
  // a second pool on the same database, as another node would open
  createPeer: () => open(),
});

function event(): EventRecord {
  const internalId = newId();
  return { internalId, id: internalId, name: "test/event", data: {}, user: {}, ts: 1_000, receivedAt: 1_000 };
}
const run = (events: EventRecord[]): RunRecord => ({
  id: newId(),
  functionId: "app-fn",
  status: "Queued",
  eventIds: events.map((e) => e.internalId),
  createdAt: 1_000,
});
const start = (runId: string, availableAt: number): NewQueueItem => ({ runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt, lane: 1 });

describe("Postgres store: a failed statement ends its transaction", () => {
  it("writes queued after a failing one are never applied, inside or outside the transaction", async () => {
    await db.reset();
    const store = await open();
    try {
      const e = event();
      const r = run([e]);
      await store.ingestEvents({ events: [e], runs: [r], items: [] });
      // the run insert fails (its id exists); the items and pauses issued after it must not land
      const again = event();
      const failing = store.ingestEvents({
        events: [again],
        runs: [{ ...r, eventIds: [again.internalId] }],
        items: [start(r.id, 10), start(r.id, 20)],
        pauses: [{ id: `${r.id}:p`, runId: r.id, kind: PauseKind.Wait, eventName: "x", createdAt: 1, expiresAt: 2 }],
      });
      await expect(failing).rejects.toThrow(/duplicate key/);
      // a later write on the same pool finishes after anything the failed one could have left running
      await store.ingestEvents({ events: [event()], runs: [], items: [] });
      expect(await store.nextAvailableAt()).toBeNull();
      expect(await store.findPauses({ eventName: "x" })).toEqual([]);
      expect(await store.getEvent(again.internalId)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe("Postgres store: two nodes at once", () => {
  it("events with one sender id ingested on two nodes at once start runs once", async () => {
    await db.reset();
    const [a, b] = [await open(), await open()];
    try {
      const attempts = Array.from({ length: 10 }, () => {
        const e = { ...event(), id: "order-1" };
        const r = run([e]);
        return { e, r };
      });
      const results = await Promise.all(
        attempts.map(({ e, r }, i) => (i % 2 ? b : a).ingestEvents({ events: [e], runs: [r], items: [start(r.id, 1_000)], dedupeSince: 0 })),
      );
      expect(results.filter((x) => x.duplicates.length === 0)).toHaveLength(1);
      expect(await a.listRuns({ limit: 100 })).toHaveLength(1);
      expect((await b.listEvents({ limit: 100 })).filter((e) => e.duplicate)).toHaveLength(9);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a cron tick advanced by two nodes at once fires once", async () => {
    await db.reset();
    const [a, b] = [await open(), await open()];
    try {
      await a.ensureCronSchedule({ functionId: "app-fn", expression: "* * * * *", nextAt: 60_000 });
      const ticks = [event(), event()];
      const moved = await Promise.all(
        [a, b].map((store, i) =>
          store.advanceCronSchedule({
            functionId: "app-fn",
            expression: "* * * * *",
            fromAt: 60_000,
            toAt: 120_000,
            emit: { events: [ticks[i]!], runs: [], items: [] },
          }),
        ),
      );
      expect(moved.filter(Boolean)).toHaveLength(1);
      expect(await a.listEvents({ limit: 10 })).toHaveLength(1);
      expect((await b.listCronSchedules())[0]?.nextAt).toBe(120_000);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("Postgres store: synchronous script views over asynchronous reads", () => {
  it("a script's open-ended questions are fetched in the transaction and the script runs again on the answers", async () => {
    await db.reset();
    const store = await open();
    try {
      const [e1, e2] = [event(), event()];
      const [mine, other] = [run([e1]), run([e2])];
      await store.ingestEvents({ events: [e1, e2], runs: [mine, other], items: [] });
      await store.commitTransition({
        runId: other.id,
        pauses: [{ id: `${other.id}:w`, runId: other.id, kind: PauseKind.Wait, eventName: "shop/paid", createdAt: 1, expiresAt: 9 }],
      });
      // ended without clearing its pauses, so the pause is still there to be asked about
      await store.commitTransition({ runId: other.id, run: { status: "Completed", endedAt: 2 } });
      const answers: unknown[][] = [];
      const wrote = await store.transition(mine.id, {
        now: 1_000,
        decide: (view) => {
          const seen = [
            view.run?.status,
            view.runStatus(mine.id),
            view.runStatus(other.id),
            view.runStatus("nope"),
            view.hasEventsSince("test/event", 1_000),
            view.hasEventsSince("test/event", 1_001),
            view.hasPauses("shop/paid"),
            view.hasPauses("shop/other"),
            view.hasPause(`${other.id}:w`),
          ];
          answers.push(seen);
          return undefined;
        },
      });
      expect(wrote).toBe(false);
      // the first round could not answer what it was asked; the last one saw the database
      expect(answers.length).toBe(2);
      expect(answers.at(-1)).toEqual(["Queued", "Queued", "Completed", undefined, true, false, true, false, true]);
    } finally {
      await store.close();
    }
  });
});
