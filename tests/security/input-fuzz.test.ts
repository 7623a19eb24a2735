/**
 * Hostile input over a real socket: a dev-mode server on 127.0.0.1 gets random requests
 * to every route (methods, paths with odd bytes and encodings, headers, JSON and non-JSON
 * bodies) from a fixed, printed fast-check seed. Asserts no 5xx, the server healthy after,
 * and every event acknowledged by `POST /e/:key` stored exactly as sent.
 */
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { serve } from "@hono/node-server";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InputServer, inputServer, registerBody } from "../fixtures/input-server.ts";

const seed = Number(process.env.STEPWISE_FUZZ_SEED ?? 20261201);
const numRuns = Number(process.env.STEPWISE_FUZZ_RUNS ?? 2000);

let s: InputServer;
let http: ReturnType<typeof serve>;
let port = 0;
beforeAll(async () => {
  s = await inputServer();
  await new Promise<void>((resolve) => {
    http = serve({ fetch: s.server.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve());
  });
  port = (http.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => http.close(() => resolve()));
  await s.close();
});

interface Reply {
  status: number;
  body: string;
}

/** One request written byte for byte (no client-side normalisation of the path or headers). */
function raw(method: string, path: Uint8Array, headers: Array<[string, string]>, body: Uint8Array): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const head = [`${method} `, "", ` HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\ncontent-length: ${body.length}\r\n`];
    for (const [k, v] of headers) head.push(`${k}: ${v}\r\n`);
    socket.on("connect", () => {
      socket.write(Buffer.concat([Buffer.from(head[0] as string), path, Buffer.from(head.slice(2).join("")), Buffer.from("\r\n"), body]));
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`timeout: ${method} ${Buffer.from(path).toString("latin1")}`)));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("latin1");
      // a stream (GET /v1/stream) never ends: its status line is enough
      if (/^HTTP\/1\.1 \d{3}[^\r]*\r\n[\s\S]*text\/event-stream/i.test(text)) socket.destroy();
    });
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 0) return reject(new Error(`no reply to ${method} ${Buffer.from(path).toString("latin1")}`));
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
    socket.on("error", () => undefined);
  });
}

const routes: Array<[string, string]> = [
  ["GET", "/health"],
  ["POST", "/e/:p"],
  ["POST", "/fn/register"],
  ["GET", "/v0/runs/:p/batch"],
  ["GET", "/v0/runs/:p/actions"],
  ["GET", "/v1/events"],
  ["GET", "/v1/events/:p"],
  ["GET", "/v1/events/:p/runs"],
  ["GET", "/v1/runs"],
  ["GET", "/v1/runs/:p"],
  ["DELETE", "/v1/runs/:p"],
  ["GET", "/v1/apps"],
  ["POST", "/v1/apps/sync"],
  ["GET", "/v1/functions"],
  ["POST", "/v1/functions/:p/invoke"],
  ["POST", "/v1/functions/:p/pause"],
  ["POST", "/v1/functions/:p/resume"],
  ["POST", "/v1/signals"],
  ["POST", "/v1/runs/:p/rerun"],
  ["POST", "/v1/runs/:p/metadata"],
  ["GET", "/v1/runs/:p/metadata"],
  ["POST", "/v1/runs/cancel"],
  ["POST", "/v1/runs/replay"],
  ["GET", "/v1/functions/:p/stats"],
  ["GET", "/v1/stuck"],
  ["POST", "/v1/replays"],
  ["GET", "/v1/replays"],
  ["GET", "/v1/replays/:p"],
  ["POST", "/v1/replays/:p/resume"],
  ["GET", "/v1/stream"],
  ["GET", "/v1/tokens"],
  ["POST", "/v1/tokens"],
  ["GET", "/:p"],
];

const enc = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));

/** A path segment: plain, percent-encoded (valid or not), traversal, or raw odd bytes. */
const segment = fc.oneof(
  fc.constantFrom(
    "api-echo",
    "api-sleeper",
    "key",
    "01J0000000000000000000000",
    "..",
    "%2e%2e",
    "%E0%A4%A",
    "%",
    "%zz",
    "%00",
    "%C0%AF",
    "a%2Fb",
    "<script>",
    "",
  ),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => Buffer.from(bytes.filter((b) => b > 0x20 && b !== 0x7f)).toString("latin1")),
);

const query = fc.oneof(
  fc.constant(""),
  fc
    .array(
      fc.tuple(
        fc.constantFrom("limit", "cursor", "name", "status", "function_id", "event_id", "from", "to", "range", "x"),
        fc.oneof(segment, fc.constantFrom("0", "-1", "1001", "1e300", "NaN", "Failed", "2026-01-01", "99999999999999999999", "1h", "24h")),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`),
);

const request = fc.record({
  route: fc.constantFrom(...routes),
  method: fc.oneof(
    { weight: 5, arbitrary: fc.constant("") },
    { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") },
  ),
  param: segment,
  query,
});

const json = fc.jsonValue({ maxDepth: 4 });
const event = fc.record(
  {
    name: fc.oneof(fc.constantFrom("api/echo", "api/sleep", "fuzz/e", "inngest/function.failed", ""), fc.string({ maxLength: 20 }), json),
    data: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 5 }), json),
    user: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }), json),
    id: fc.oneof(fc.string({ maxLength: 12 }), json),
    ts: fc.oneof(fc.integer(), fc.double(), fc.constant(Date.now())),
    v: fc.oneof(fc.string({ maxLength: 5 }), json),
  },
  { requiredKeys: [] },
);
const wellFormedEvent = fc.record({
  name: fc.constantFrom("fuzz/stored", "fuzz/other"),
  data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
});

const body = fc.oneof(
  fc.constant(new Uint8Array()),
  fc
    .constantFrom(
      "null",
      "true",
      "0",
      '""',
      "[]",
      "{}",
      "1e400",
      '{"a":1e400}',
      '{"from":1e300}',
      '{"__proto__":{"x":1}}',
      "[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]",
      `${"[".repeat(5000)}${"]".repeat(5000)}`,
    )
    .map(enc),
  json.map((v) => enc(JSON.stringify(v))),
  event.map((v) => enc(JSON.stringify(v))),
  fc.array(event, { maxLength: 4 }).map((v) => enc(JSON.stringify(v))),
  fc.oneof(wellFormedEvent, fc.array(wellFormedEvent, { minLength: 1, maxLength: 3 })).map((v) => enc(JSON.stringify(v))),
  fc
    .record(
      { function_id: fc.oneof(fc.constantFrom("api-echo", "api-sleeper"), json), status: fc.oneof(fc.constant("Failed"), json), from: json, to: json },
      { requiredKeys: [] },
    )
    .map((v) => enc(JSON.stringify(v))),
  fc.record({ signal: fc.oneof(fc.string(), json), data: json }, { requiredKeys: [] }).map((v) => enc(JSON.stringify(v))),
  fc.record({ id: fc.oneof(fc.string({ maxLength: 12 }), json), triggers: json, cancel: json, concurrency: json, debounce: json }).map((fn) => {
    const base = registerBody("fuzz-app", "http://127.0.0.1:9/fuzz", ["fuzz-app-fn"]);
    return enc(JSON.stringify({ ...base, functions: [{ ...base.functions[0], ...fn }] }));
  }),
  fc.string({ maxLength: 200 }).map(enc),
  fc.uint8Array({ maxLength: 200 }),
);

const seedHeader = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom("1700000000000,AAAAAAAAAAAAAA==", "1700000000001,AQIDBAUGBwgJCg==", "x", "0,", ",,,", "1e400,AAAAAAAAAAAAAA=="),
  fc
    .tuple(fc.integer({ min: 1, max: 2 ** 47 }), fc.uint8Array({ minLength: 10, maxLength: 10 }))
    .map(([ms, b]) => `${ms},${Buffer.from(b).toString("base64")}`),
);

const headers = fc.record({
  contentType: fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
  ),
  seed: seedHeader,
  extra: fc.array(
    fc.tuple(
      fc.constantFrom("x-inngest-expected-server-kind", "x-inngest-signature", "authorization", "origin", "cookie", "x-fuzz", "content-encoding", "accept"),
      fc.string({ unit: "grapheme-ascii", maxLength: 40 }).map((v) => v.replace(/[\r\n]/g, "")),
    ),
    { maxLength: 3 },
  ),
});

interface Planned {
  method: string;
  route: string;
  path: Uint8Array;
  body: Uint8Array;
  headers: Array<[string, string]>;
}

const anyRequest: fc.Arbitrary<Planned> = fc.tuple(request, body, headers).map(([req, payload, h]) => {
  const list: Array<[string, string]> = [...h.extra];
  if (h.contentType) list.push(["content-type", h.contentType]);
  if (h.seed) list.push(["x-inngest-event-id-seed", h.seed]);
  const method = req.method || req.route[0];
  return { method, route: req.route[1], path: enc(`${req.route[1].replace(":p", req.param)}${req.query}`), body: payload, headers: list };
});

/** A send the server should take: well-formed events, any key, sometimes a seed. */
const eventSend: fc.Arbitrary<Planned> = fc
  .tuple(segment, fc.oneof(wellFormedEvent, fc.array(wellFormedEvent, { minLength: 1, maxLength: 3 })), seedHeader)
  .map(([key, events, seedValue]) => ({
    method: "POST",
    route: "/e/:p",
    path: enc(`/e/${key || "k"}`),
    body: enc(JSON.stringify(events)),
    headers: [["content-type", "application/json"] as [string, string], ...(seedValue ? [["x-inngest-event-id-seed", seedValue] as [string, string]] : [])],
  }));

describe("hostile input fuzz (socket, dev mode)", () => {
  it(`${numRuns} random requests over every route: no 5xx, healthy after, acknowledged events stored as sent`, { timeout: 120_000 }, async () => {
    console.log(`input fuzz: seed ${seed}, ${numRuns} requests (STEPWISE_FUZZ_SEED / STEPWISE_FUZZ_RUNS to change)`);
    const fiveHundreds: string[] = [];
    const acknowledged: Array<{ ids: string[]; sent: unknown }> = [];
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 4, arbitrary: anyRequest }, { weight: 1, arbitrary: eventSend }),
        async ({ method, route, path, body: payload, headers: list }) => {
          tried++;
          const reply = await raw(method, path, list, method === "GET" || method === "HEAD" ? new Uint8Array() : payload);
          if (reply.status >= 500)
            fiveHundreds.push(
              `${reply.status} ${method} ${Buffer.from(path).toString("latin1")} ← ${Buffer.from(payload).toString("latin1").slice(0, 200)} → ${reply.body.slice(0, 300)}`,
            );
          if (reply.status === 200 && method === "POST" && route === "/e/:p") {
            acknowledged.push({ ids: (JSON.parse(reply.body) as { ids: string[] }).ids, sent: JSON.parse(Buffer.from(payload).toString("utf8")) });
          }
          return reply.status < 500;
        },
      ),
      { seed, numRuns, endOnFailure: true },
    );
    expect(fiveHundreds).toEqual([]);
    const health = await raw("GET", enc("/health"), [], new Uint8Array());
    expect(health.status).toBe(200);

    let lost = 0;
    let events = 0;
    for (const { ids, sent } of acknowledged) {
      const list = (Array.isArray(sent) ? sent : [sent]) as Array<Record<string, unknown>>;
      for (const [i, id] of ids.entries()) {
        events++;
        const stored = await s.engine.store.getEvent(id);
        const want = list[i] as Record<string, unknown>;
        if (!stored) {
          lost++;
          continue;
        }
        expect({ name: stored.name, data: stored.data, user: stored.user }).toEqual({ name: want.name, data: want.data ?? {}, user: want.user ?? {} });
        if (typeof want.id === "string") expect(stored.id).toBe(want.id);
        if (typeof want.ts === "number") expect(stored.ts).toBe(want.ts);
      }
    }
    console.log(`input fuzz: ${tried} requests, ${fiveHundreds.length} 5xx, ${acknowledged.length} acknowledged sends (${events} events), ${lost} lost`);
    expect(lost).toBe(0);
    expect(events).toBeGreaterThan(200);
  });
});
