/**
 * Realtime across nodes: two `stepwise start` servers on one Postgres database. A token
 * issued by one node is accepted by the other (both derive the token key from the
 * signing key); a message published on node A reaches subscribers connected to node B,
 * over the official WebSocket client and Stepwise's SSE client alike, large ones (sent
 * as several NOTIFY chunks) intact. And start mode's credentials: publishing and tokens
 * need one, a subscription token is none.
 */
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { Inngest } from "inngest";
import { subscribe as officialSubscribe, getSubscriptionToken as officialToken } from "inngest/realtime";
import { channel, Stepwise, subscribe, topic } from "stepwise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";

const g = globalThis as { WebSocket?: unknown };
if (typeof g.WebSocket === "undefined") g.WebSocket = WsWebSocket;

const signingKey = "signkey-test-8e8b5b1c2f3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
const eventKey = "evt-realtime";
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
let db: TestDatabase;
let a: RunningServer;
let b: RunningServer;

beforeAll(async () => {
  db = await createTestDatabase();
  const start = () =>
    runServer({ mode: "start", port: 0, db: db.url, signingKey, eventKey, dashboardToken: "dash-secret-realtime", logRuns: false, logger: silentLogger });
  a = await start();
  b = await start();
}, 30_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

async function listening(node: RunningServer) {
  await (node.engine.realtime as unknown as { ready(): Promise<void> }).ready();
}

describe("realtime on two nodes sharing Postgres", () => {
  it("a token from node A subscribes on node B; messages published on A arrive there, large ones intact", async () => {
    const inngestA = new Inngest({ id: "cluster-rt", isDev: false, baseUrl: a.url, signingKey, eventKey, logger: quiet });
    await listening(b);
    await listening(a);
    const token = await officialToken(inngestA, { channel: "room:1", topics: ["chat"] });
    const viaWs = await officialSubscribe({ ...token, apiBaseUrl: b.url });
    const wsReader = viaWs.getReader();
    // Stepwise's SSE client, on node B too, with a token node B issued
    const client = new Stepwise({ id: "cluster-rt", isDev: false, baseUrl: b.url, signingKey, eventKey, logger: silentLogger });
    const room = channel({ name: "room:1", topics: { chat: topic<string>() } });
    const viaSse = await client.realtime.subscribe({ channel: room, topics: ["chat"] });
    const sseReader = viaSse.getReader();

    const big = "é".repeat(40_000); // 80 KB of UTF-8: many NOTIFY chunks
    await inngestA.realtime.publish({ channel: "room:1", topic: "chat", config: {} } as never, "hello");
    const stepwiseA = new Stepwise({ id: "cluster-rt", isDev: false, baseUrl: a.url, signingKey, eventKey, logger: silentLogger });
    await stepwiseA.realtime.publish(room.chat, big);

    const ws1 = await wsReader.read();
    const ws2 = await wsReader.read();
    expect([ws1.value?.data, String(ws2.value?.data).length]).toEqual(["hello", 40_000]);
    expect(ws2.value?.data).toBe(big);
    const sse1 = await sseReader.read();
    const sse2 = await sseReader.read();
    expect([sse1.value?.data, sse2.value?.data === big]).toEqual(["hello", true]);
    viaWs.close();
    viaSse.close();
  }, 30_000);

  it("start mode: publish and token need a credential; a subscription token is not one", async () => {
    const publish = await fetch(`${a.url}/v1/realtime/publish?channel=c&topic=t`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "1",
    });
    expect(publish.status).toBe(401);
    const tokenRes = await fetch(`${a.url}/v1/realtime/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ channel: "c", name: "t" }]),
    });
    expect(tokenRes.status).toBe(401);
    const client = new Stepwise({ id: "cluster-rt", isDev: false, baseUrl: a.url, signingKey, eventKey, logger: silentLogger });
    const ch = channel({ name: "c", topics: { t: {} } });
    const token = await client.realtime.token({ channel: ch, topics: ["t"] });
    const asCredential = await fetch(`${a.url}/v1/runs`, { headers: { authorization: `Bearer ${token.key}` } });
    expect(asCredential.status).toBe(401);
    const asPublisher = await fetch(`${a.url}/v1/realtime/publish?channel=c&topic=t`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token.key}` },
      body: "1",
    });
    expect(asPublisher.status).toBe(401);
    // and it does subscribe (here on the node that did not issue it)
    const sub = await subscribe({ ...token, apiBaseUrl: b.url });
    const reader = sub.getReader();
    await client.realtime.publish(ch.t, { n: 1 });
    expect((await reader.read()).value).toMatchObject({ channel: "c", topic: "t", data: { n: 1 } });
    sub.close();
  }, 30_000);
});
