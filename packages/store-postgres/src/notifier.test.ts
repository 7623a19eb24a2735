import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresNotifier } from "./notifier.ts";
import { createTestDatabase, type TestDatabase } from "./testing.ts";

let db: TestDatabase;
const pools: pg.Pool[] = [];
const notifiers: PostgresNotifier[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const n of notifiers) await n.close();
  for (const p of pools) await p.end();
  await db?.drop();
});

function node(windowMs = 10) {
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pools.push(pool);
  const notifier = new PostgresNotifier({ url: db.url, pool, windowMs, onWarning: () => {} });
  notifiers.push(notifier);
  let wakes = 0;
  notifier.subscribe(() => wakes++);
  return { notifier, wakes: () => wakes };
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

describe("PostgresNotifier", () => {
  it("wakes the other nodes, coalescing a burst into one NOTIFY now and one when the window ends; a node ignores its own", async () => {
    const a = node(50);
    const b = node();
    await until(() => a.notifier.isListening && b.notifier.isListening);
    expect([a.notifier.isListening, b.notifier.isListening]).toEqual([true, true]);
    for (let i = 0; i < 100; i++) a.notifier.notify();
    // local listeners are called at once
    expect(a.wakes()).toBe(100);
    await until(() => b.wakes() >= 2);
    expect(b.wakes()).toBe(2);
    // b's notification reaches a after everything a sent: a has seen its own two by then and ignored them
    b.notifier.notify();
    await until(() => a.wakes() >= 101);
    expect(a.wakes()).toBe(101);
    expect(b.wakes()).toBe(3);
  });

  it("listens again after its connection is terminated, waking its listeners once it is back", async () => {
    const a = node();
    const b = node();
    await until(() => a.notifier.isListening && b.notifier.isListening);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const { rows } = await admin.query(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stepwise-listen'",
    );
    await admin.end();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    await until(() => !b.notifier.isListening);
    await until(() => a.notifier.isListening && b.notifier.isListening && b.wakes() >= 1);
    // the catch-up wake on reconnecting
    expect(b.wakes()).toBe(1);
    a.notifier.notify();
    await until(() => b.wakes() >= 2);
    expect(b.wakes()).toBe(2);
  });
});
