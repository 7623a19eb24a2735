/**
 * Realtime with the official `inngest` SDK (v4) against a Stepwise dev server: a served
 * function publishes with `step.realtime.publish` (memoized: a retry does not publish
 * again) and with the client's non-durable `realtime.publish`; the official
 * `inngest/realtime` `subscribe` client, unchanged, receives the messages over the
 * server's WebSocket. Node 20 has no global WebSocket: the one `ws` provides stands in.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { channel, getSubscriptionToken, subscribe } from "inngest/realtime";
import type { InProcessRealtimeBus } from "stepwise/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { z } from "zod";

const g = globalThis as { WebSocket?: unknown };
if (typeof g.WebSocket === "undefined") g.WebSocket = WsWebSocket;

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
let attempts = 0;

const progress = channel({
  name: (orderId: string) => `order:${orderId}`,
  topics: { status: { schema: z.union([z.object({ state: z.string() }), z.string()]) }, log: { schema: z.string() } },
});

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({ id: "rt", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  const publisher = inngest.createFunction({ id: "publisher", retries: 2, triggers: [{ event: "rt/order" }] }, async ({ event, step }) => {
    const ch = progress(String(event.data.orderId));
    await step.realtime.publish("announce", ch.status, { state: "started" });
    await step.run("flaky", () => {
      if (++attempts < 2) throw new Error("flake");
      return attempts;
    });
    await inngest.realtime.publish(ch.log, `attempt ${attempts}`);
    await step.realtime.publish("finish", ch.status, { state: "done" });
    return "ok";
  });
  app = createServer(serve({ client: inngest, functions: [publisher] }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${stepwise.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

describe("official inngest/realtime against stepwise dev", () => {
  it("subscribe receives step.realtime.publish and realtime.publish from a served function, each once", async () => {
    const ch = progress("42");
    const token = await getSubscriptionToken(inngest, { channel: ch, topics: ["status", "log"] });
    expect(typeof token.key).toBe("string");
    const received: { topic: string; data: unknown; runId?: string; channel: string }[] = [];
    const stream = await subscribe({ ...token, apiBaseUrl: stepwise.url });
    const reading = (async () => {
      const reader = stream.getReader();
      while (received.length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        if (value.kind === "data")
          received.push({ topic: value.topic as string, data: value.data, channel: value.channel as string, ...(value.runId ? { runId: value.runId } : {}) });
      }
      reader.releaseLock();
    })();
    const { ids } = await inngest.send({ name: "rt/order", data: { orderId: "42" } });
    const runs = await waitForRuns(ids[0] as string);
    const run = await stepwise.engine.waitForRun(runs, { timeoutMs: 20_000 });
    expect(run.error ?? null).toBeNull();
    expect(run.status).toBe("Completed");
    await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`only got ${JSON.stringify(received)}`)), 10_000))]);
    expect(received.map((m) => [m.topic, m.data])).toEqual([
      ["status", { state: "started" }],
      ["log", "attempt 2"],
      ["status", { state: "done" }],
    ]);
    expect(received.every((m) => m.channel === "order:42" && m.runId === run.id)).toBe(true);
    // the publishing steps are memoized steps of the run: "announce" ran once although the run was called again after "flaky" failed
    const announce = run.steps.find((s) => s.name === "announce");
    expect(announce).toMatchObject({ status: "Completed", attempts: 1 });
    expect(attempts).toBe(2);
    // nothing more arrives (the retried call replayed "announce" from memo): publish a marker and check it is the next message
    const more: unknown[] = [];
    const reader = stream.getReader();
    const next = reader.read().then((r) => more.push(r.value?.data));
    await inngest.realtime.publish(ch.status, "marker");
    await next;
    expect(more).toEqual(["marker"]);
    const bus = stepwise.engine.realtime as InProcessRealtimeBus;
    expect(bus.size).toBe(1);
    stream.close();
    // the server drops the WebSocket's subscription once the client has closed it
    await until(() => bus.size === 0);
    expect(bus.size).toBe(0);
  }, 40_000);

  it("a subscriber of another channel receives nothing of this one", async () => {
    const mine: unknown[] = [];
    const other = await subscribe({ ...(await getSubscriptionToken(inngest, { channel: "order:7", topics: ["status"] })), apiBaseUrl: stepwise.url }, (m) => {
      mine.push(m.data);
    });
    const sub = await subscribe({ ...(await getSubscriptionToken(inngest, { channel: "order:8", topics: ["status"] })), apiBaseUrl: stepwise.url });
    const reader = sub.getReader();
    await inngest.realtime.publish(progress("8").status, "for 8");
    await inngest.realtime.publish(progress("7").status, "for 7");
    expect((await reader.read()).value?.data).toBe("for 8");
    await until(() => mine.length > 0);
    expect(mine).toEqual(["for 7"]);
    other.close();
    sub.close();
  });
});

describe("subscription tokens", () => {
  async function upgradeStatus(query: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WsWebSocket(`${stepwise.url.replace("http", "ws")}/v1/realtime/connect${query}`);
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on("open", () => {
        resolve(101);
        ws.close();
      });
      ws.on("error", (e) => (e.message.includes("Unexpected server response") ? undefined : reject(e)));
    });
  }

  it("a missing, forged or tampered token is refused with 401, a token for another channel or topic with 403", async () => {
    const res = await post("/v1/realtime/token", [{ channel: "c1", name: "t1", kind: "run" }]);
    expect(res.status).toBe(200);
    const { jwt } = (await res.json()) as { jwt: string };
    expect(await upgradeStatus(`?token=${jwt}`)).toBe(101);
    expect(await upgradeStatus("")).toBe(401);
    expect(await upgradeStatus("?token=abc.def.ghi")).toBe(401);
    const [h, p, s] = jwt.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, ch: "c2" })).toString("base64url");
    expect(await upgradeStatus(`?token=${h}.${widened}.${s}`)).toBe(401);
    expect(await upgradeStatus(`?token=${jwt}&channel=c2`)).toBe(403);
    expect(await upgradeStatus(`?token=${jwt}&channel=c1&topic=t2`)).toBe(403);
    expect(await upgradeStatus(`?token=${jwt}&channel=c1&topic=t1`)).toBe(101);
    const sse = await fetch(`${stepwise.url}/v1/realtime/sse?channel=c2`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(sse.status).toBe(403);
    expect(((await sse.json()) as { error: string }).error).toMatch(/another channel/);
    const none = await fetch(`${stepwise.url}/v1/realtime/sse`);
    expect(none.status).toBe(401);
    // a page on another origin may subscribe with its token (CORS), and read a refusal
    expect(none.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await fetch(`${stepwise.url}/v1/realtime/sse`, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
    const crossOrigin = await fetch(`${stepwise.url}/v1/realtime/sse`, { headers: { authorization: `Bearer ${jwt}`, origin: "http://localhost:3000" } });
    expect(crossOrigin.status).toBe(200);
    expect(crossOrigin.headers.get("access-control-allow-origin")).toBe("*");
    await crossOrigin.body?.cancel();
    // the token route is not open to other origins
    const tokenCors = await post("/v1/realtime/token", [{ channel: "c1", name: "t1" }], { origin: "http://localhost:3000" });
    expect(tokenCors.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("an expired token is refused with 401", async () => {
    const { RealtimeTokens } = await import("@stepwise/server");
    let now = Date.now();
    const tokens = new RealtimeTokens({ signingKeys: ["signkey-test-abc"], ttlMs: 1_000, now: () => now });
    const jwt = tokens.sign({ channel: "c", topics: ["t"] });
    expect(tokens.verify(jwt).ok).toBe(true);
    now += 1_001;
    const result = tokens.verify(jwt);
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(result.ok ? "" : result.reason).toMatch(/expired/);
    // another server's key (here: another signing key) does not verify it
    expect(new RealtimeTokens({ signingKeys: ["signkey-test-other"] }).verify(tokens.sign({ channel: "c", topics: ["t"] })).ok).toBe(false);
  });

  it("bad token and publish requests are 400s naming the field", async () => {
    for (const [body, field] of [
      [{}, /expected an array/],
      [[], /at least one topic/],
      [[{ channel: "", name: "t" }], /channel/],
      [[{ channel: "a", name: 5 }], /topic name/],
      [
        [
          { channel: "a", name: "t" },
          { channel: "b", name: "u" },
        ],
        /\[1\]\.channel/,
      ],
    ] as const) {
      const res = await post("/v1/realtime/token", body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(field);
    }
    expect((await post("/v1/realtime/publish?topic=t", 1)).status).toBe(400);
    const noTopic = await post("/v1/realtime/publish?channel=c", 1);
    expect(noTopic.status).toBe(400);
    expect(((await noTopic.json()) as { error: string }).error).toMatch(/topic/);
    const bad = await fetch(`${stepwise.url}/v1/realtime/publish?channel=c&topic=t`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.from([0xff, 0xfe]),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/UTF-8/);
    const big = await post("/v1/realtime/publish?channel=c&topic=t", "x".repeat(600 * 1024));
    expect(big.status).toBe(413);
  });
});

async function waitForRuns(eventId: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const runs = await stepwise.engine.listRuns({ eventId });
    if (runs[0]) return runs[0].id;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no run for event ${eventId}`);
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
