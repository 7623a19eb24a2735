import { newId, QueueItemKind } from "@stepwise/engine";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresStore } from "./postgres-store.ts";
import { createTestDatabase, type TestDatabase } from "./testing.ts";

let db: TestDatabase;
let admin: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Pool({ connectionString: db.url, max: 1 });
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

/** Terminates every backend the store opened on the test database (not the admin's). */
async function terminateStoreBackends(): Promise<number> {
  const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'stepwise' AND pid <> pg_backend_pid()`);
  return rows.filter((r) => r.done).length;
}

function seed(i: number) {
  const eventId = newId();
  const runId = newId();
  return {
    events: [{ internalId: eventId, id: eventId, name: "test/event", data: { i }, user: {}, ts: 1_000, receivedAt: 1_000 }],
    runs: [{ id: runId, functionId: "app-fn", status: "Queued" as const, eventIds: [eventId], createdAt: 1_000 }],
    items: [{ runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt: 1_000, lane: 1 as const }],
  };
}

describe("Postgres store: lost connections", () => {
  it("terminated backends mid-use are a delay: every ingest, claim and commit still lands, once", async () => {
    await db.reset();
    const warnings: string[] = [];
    const store = new PostgresStore({ url: db.url, notify: false, poolSize: 4, onWarning: (m) => warnings.push(m) });
    await store.migrate();
    const n = 120;
    let killed = 0;
    const killer = (async () => {
      for (let round = 0; round < 6; round++) {
        await new Promise((r) => setTimeout(r, 40));
        killed += await terminateStoreBackends();
      }
    })();
    await Promise.all(Array.from({ length: n }, (_, i) => store.ingestEvents(seed(i))));
    const completed = new Set<string>();
    for (let round = 0; round < 200 && completed.size < n; round++) {
      const { items } = await store.claimQueueItems({ now: 2_000, limit: 16, leaseUntil: 1_000_000 });
      await Promise.all(
        items.map(async (item) => {
          const lease = { itemId: item.id, token: item.token };
          await store.commitTransition({
            runId: item.runId,
            itemId: item.id,
            lease,
            run: { status: "Completed", output: item.runId, endedAt: 3_000 },
            clearQueue: true,
          });
          completed.add(item.runId);
        }),
      );
    }
    await killer;
    expect(killed).toBeGreaterThan(0);
    expect(completed.size).toBe(n);
    const runs = await store.listRuns({ limit: 1_000 });
    expect(runs).toHaveLength(n);
    expect(runs.every((r) => r.status === "Completed")).toBe(true);
    expect(await store.nextAvailableAt()).toBeNull();
    expect(warnings.some((w) => /retrying/.test(w))).toBe(true);
    await store.close();
  });

  it("a server that refuses connections is retried for retryForMs, then the error surfaces without the password", async () => {
    const store = new PostgresStore({ url: "postgres://stepwise:hunter2@127.0.0.1:1/nowhere", notify: false, retryForMs: 300, onWarning: () => {} });
    const started = Date.now();
    const error = (await store.getRun("x").then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code?: string };
    expect(error?.code).toBe("ECONNREFUSED");
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(`${error.message} ${error.stack}`).not.toContain("hunter2");
    expect(store.displayUrl).toBe("postgres://stepwise:***@127.0.0.1:1/nowhere");
    await store.close();
  });

  it("rejects a bad URL or pool size with a typed error naming the field", () => {
    expect(() => new PostgresStore({ url: "mysql://x" })).toThrow(/^url: expected a postgres:\/\//);
    expect(() => new PostgresStore({ url: "postgres://a:secret@h/db", poolSize: 0 })).toThrow(/^poolSize: expected a positive integer/);
  });
});

/**
 * A server that accepts a connection and, in one TCP write, says it is ready and then that
 * it is shutting down (57P01): what a backend does when a restart begins just as a
 * connection is made. node-postgres hands the connection out on "ready" and emits the
 * error before a promise-based checkout can attach a listener.
 */
async function readyThenTerminating(): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  const { createServer } = await import("node:net");
  let accepted = 0;
  const message = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, "latin1");
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const fields = Buffer.from("SFATAL\0C57P01\0Mterminating connection due to administrator command\0\0", "latin1");
  const server = createServer((socket) => {
    accepted++;
    socket.once("data", () => {
      // the startup message: answer AuthenticationOk, ReadyForQuery, then the FATAL error, together
      socket.end(Buffer.concat([message("R", int32(0)), message("Z", Buffer.from("I")), message("E", fields)]));
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://stepwise@127.0.0.1:${port}/none`,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("Postgres store: a connection that dies as it is handed out", () => {
  it("is retried and reported as an error of the operation, never an uncaught 'error' event", async () => {
    const fake = await readyThenTerminating();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const store = new PostgresStore({ url: fake.url, notify: false, poolSize: 1, retryForMs: 300, onWarning: () => {} });
    try {
      await expect(store.migrate()).rejects.toThrow(/not queryable|terminat|Connection/i);
      expect(fake.accepted()).toBeGreaterThan(1); // retried on fresh connections
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await store.close();
      await fake.close();
    }
  });
});
