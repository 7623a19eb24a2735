import type { RealtimeMessage } from "@stepwise/engine";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresRealtimeBus } from "./realtime-bus.ts";
import { createTestDatabase, type TestDatabase } from "./testing.ts";

let db: TestDatabase;
const pools: pg.Pool[] = [];
const buses: PostgresRealtimeBus[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const b of buses) await b.close();
  for (const p of pools) await p.end();
  await db?.drop();
});

function node() {
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pools.push(pool);
  const bus = new PostgresRealtimeBus({ url: db.url, pool, onWarning: () => {} });
  buses.push(bus);
  return bus;
}

function collect(bus: PostgresRealtimeBus, channel: string) {
  const got: RealtimeMessage[] = [];
  const off = bus.subscribe(channel, (m) => got.push(m));
  return { got, off };
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

const message = (channel: string, topic: string, data: unknown): RealtimeMessage => ({ channel, topic, data, createdAt: Date.now() });

describe("PostgresRealtimeBus", () => {
  it("delivers to the other node's subscribers of the channel, once to the publisher's own, in order; large messages intact", async () => {
    const a = node();
    const b = node();
    const onA = collect(a, "room");
    const onB = collect(b, "room");
    const otherChannel = collect(b, "elsewhere");
    await Promise.all([a.ready(), b.ready()]);
    const big = { text: "ü€".repeat(30_000) }; // ~150 KB of UTF-8: many chunks
    await a.publish(message("room", "t", 1));
    await a.publish(message("room", "t", big));
    await a.publish(message("room", "t", 3));
    await until(() => onB.got.length >= 3);
    expect(onB.got.map((m) => m.data)).toEqual([1, big, 3]);
    // the publisher's own subscriber got each once (at once, not again from its own NOTIFY): the marker from B is the next
    await b.publish(message("room", "t", "marker"));
    await until(() => onA.got.length >= 4);
    expect(onA.got.map((m) => m.data)).toEqual([1, big, 3, "marker"]);
    expect(otherChannel.got).toEqual([]);
    onB.off();
    await a.publish(message("room", "t", "after off"));
    await b.publish(message("elsewhere", "t", "probe"));
    await until(() => otherChannel.got.length >= 1);
    expect(onB.got).toHaveLength(4); // the "marker" B published itself, then nothing after off
  });

  it("listens again after its LISTEN connection is terminated", async () => {
    const a = node();
    const b = node();
    const onB = collect(b, "room");
    await Promise.all([a.ready(), b.ready()]);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stepwise-realtime' AND datname = current_database()");
    await admin.end();
    await until(() => !b.isListening, 2_000);
    await b.ready();
    await a.ready();
    await a.publish(message("room", "t", "back"));
    await until(() => onB.got.length >= 1);
    expect(onB.got.map((m) => m.data)).toEqual(["back"]);
  });
});
