/**
 * The bad-input corpus of issue 10 (hostile input), one row per input: each is refused
 * with a 4xx `{ error, … }` naming what is wrong, never a 500, and nothing is stored or
 * taken over.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InputServer, inputServer, registerBody } from "../fixtures/input-server.ts";

let s: InputServer;
beforeAll(async () => {
  s = await inputServer();
});
afterAll(async () => {
  await s.close();
});

const call = (path: string, init: RequestInit = {}) => s.server.app.request(path, init);
const send = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
  call(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

interface Row {
  name: string;
  path: string;
  body: BodyInit;
  status: number;
  error: RegExp;
}

const app = (fn: Record<string, unknown>) =>
  JSON.stringify({
    ...registerBody("corpus", "http://127.0.0.1:9/api", ["corpus-fn"]),
    functions: [{ ...registerBody("corpus", "http://127.0.0.1:9/api", ["corpus-fn"]).functions[0], ...fn }],
  });

const rows: Row[] = [
  { name: "null body to bulk cancel", path: "/v1/runs/cancel", body: "null", status: 400, error: /body: expected a JSON object/ },
  { name: "null body to bulk replay", path: "/v1/runs/replay", body: "null", status: 400, error: /body: expected a JSON object/ },
  { name: "null body to app sync", path: "/v1/apps/sync", body: "null", status: 400, error: /body: expected a JSON object/ },
  { name: "null body to invoke", path: "/v1/functions/api-echo/invoke", body: "null", status: 400, error: /body: expected a JSON object/ },
  { name: "null body to signals", path: "/v1/signals", body: "null", status: 400, error: /body: expected a JSON object/ },
  {
    name: "from 1e300 to bulk cancel",
    path: "/v1/runs/cancel",
    body: '{"function_id":"api-echo","from":1e300}',
    status: 400,
    error: /from: expected an ISO date or unix ms/,
  },
  {
    name: "to 1e300 to bulk replay",
    path: "/v1/runs/replay",
    body: '{"function_id":"api-echo","to":1e300}',
    status: 400,
    error: /to: expected an ISO date or unix ms/,
  },
  { name: "string triggers entry", path: "/fn/register", body: app({ triggers: ["oops"] }), status: 400, error: /"functions\[0\]\.triggers\[0\]"/ },
  { name: "string triggers", path: "/fn/register", body: app({ triggers: "x" }), status: 400, error: /"functions\[0\]\.triggers"/ },
  { name: "string cancel", path: "/fn/register", body: app({ cancel: "x" }), status: 400, error: /"functions\[0\]\.cancel"/ },
  { name: "null cancel entry", path: "/fn/register", body: app({ cancel: [null] }), status: 400, error: /"functions\[0\]\.cancel\[0\]"/ },
  { name: "function id with markup", path: "/fn/register", body: app({ id: "corpus-<script>" }), status: 400, error: /"functions\[0\]\.id" must not contain/ },
  { name: "function id with ../", path: "/fn/register", body: app({ id: "corpus-../../etc" }), status: 400, error: /"functions\[0\]\.id" must not contain/ },
  { name: "function id with >", path: "/fn/register", body: app({ id: "corpus>x" }), status: 400, error: /"functions\[0\]\.id" must not contain/ },
  { name: "null body to register", path: "/fn/register", body: "null", status: 400, error: /register: "body" expected a JSON object body/ },
  { name: "1e400 in event data", path: "/e/key", body: '{"name":"api/echo","data":{"n":1e400}}', status: 400, error: /data\.n: number out of range/ },
  { name: "1e400 as event ts", path: "/e/key", body: '{"name":"api/echo","ts":-1e400}', status: 400, error: /ts: number out of range/ },
  {
    name: "invalid UTF-8 event body",
    path: "/e/key",
    body: new Uint8Array([...Buffer.from('{"name":"api/echo","data":{"s":"'), 0xff, 0xfe, ...Buffer.from('"}}')]),
    status: 400,
    error: /not valid UTF-8/,
  },
  {
    name: "truncated UTF-8 sequence",
    path: "/v1/signals",
    body: new Uint8Array([...Buffer.from('{"signal":"'), 0xe0, 0xa4, ...Buffer.from('"}')]),
    status: 400,
    error: /not valid UTF-8/,
  },
];

describe("bad-input corpus", () => {
  it.each(rows)("$name → $status", async (row) => {
    const before = (await s.engine.store.listEvents({ limit: 1000 })).length;
    const res = await send(row.path, row.body);
    const body = (await res.json()) as { error: string; status: number };
    expect({ status: res.status, error: body.error }).toEqual({ status: row.status, error: expect.stringMatching(row.error) });
    expect(body.status).toBe(row.status);
    expect((await s.engine.store.listEvents({ limit: 1000 })).length).toBe(before);
  });
});

describe("event id seed", () => {
  const seed = `${Date.now()},${Buffer.alloc(10, 7).toString("base64")}`;

  it("a replay of the same body is idempotent: same ids, stored once", async () => {
    const body = JSON.stringify([
      { name: "seed/same", data: { n: 1 } },
      { name: "seed/same", data: { n: 2 } },
    ]);
    const first = await send("/e/key", body, { "x-inngest-event-id-seed": seed });
    const again = await send("/e/key", body, { "x-inngest-event-id-seed": seed });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    const ids = ((await first.json()) as { ids: string[] }).ids;
    expect(((await again.json()) as { ids: string[] }).ids).toEqual(ids);
    expect((await s.engine.store.listEvents({ limit: 100, name: "seed/same" })).length).toBe(2);
  });

  it("a different body under a used seed is refused with 409, not acknowledged and dropped", async () => {
    const other = `${Date.now()},${Buffer.alloc(10, 9).toString("base64")}`;
    const first = await send("/e/key", JSON.stringify({ name: "seed/diff", data: { n: 1 } }), { "x-inngest-event-id-seed": other });
    expect(first.status).toBe(200);
    const [id] = ((await first.json()) as { ids: string[] }).ids;
    const second = await send("/e/key", JSON.stringify({ name: "seed/diff", data: { n: 2 } }), { "x-inngest-event-id-seed": other });
    const reply = (await second.json()) as { error: string; code: string; status: number };
    expect({ status: second.status, code: reply.code, status2: reply.status }).toEqual({ status: 409, code: "conflict", status2: 409 });
    expect(reply.error).toContain(`differs from the event already stored under id ${id}`);
    const stored = await s.engine.store.listEvents({ limit: 100, name: "seed/diff" });
    expect(stored.map((e) => e.data)).toEqual([{ n: 1 }]);
  });
});

describe("event id seed, concurrently", () => {
  it("two different bodies under one seed at once: one is stored and acknowledged, the other gets 409", async () => {
    const seed = `${Date.now()},${Buffer.alloc(10, 3).toString("base64")}`;
    const replies = await Promise.all(
      [1, 2, 3, 4].map((n) => send("/e/key", JSON.stringify({ name: "seed/race", data: { n } }), { "x-inngest-event-id-seed": seed })),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 409)).toHaveLength(3);
    const stored = await s.engine.store.listEvents({ limit: 100, name: "seed/race" });
    expect(stored).toHaveLength(1);
    expect(stored[0]?.data).toEqual({ n: statuses.indexOf(200) + 1 });
  });
});

describe("in-process send validates what is stored", () => {
  class Point {
    toJSON() {
      return [1, 2];
    }
  }
  const cases: Array<[string, unknown, RegExp]> = [
    ["a Date as data", new Date(0), /event: "data" must be an object, received a Date/],
    ["a Map as data", new Map([["a", 1]]), /event: "data" must be an object, received a Map/],
    ["a toJSON returning an array", new Point(), /event: "data" must be an object, received a Point/],
    ["a toJSON returning undefined", { toJSON: () => undefined }, /event: "data" must be an object/],
    ["a nested Map", { m: new Map([["a", 1]]) }, /event: data\.m: a Map is not JSON/],
    ["a nested NaN", { n: Number.NaN }, /event: data\.n: NaN is not a JSON number/],
    ["undefined in an array", { list: [1, undefined] }, /event: data\.list\[1\]: undefined is not JSON/],
  ];
  it.each(cases)("refuses %s with a typed error naming the field", async (_name, data, message) => {
    const error = await s.client.send({ name: "api/echo", data: data as Record<string, unknown> }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "StepwiseError", code: "invalid_event", message: expect.stringMatching(message) });
  });
  it("names the event's index in a batch", async () => {
    const error = await s.client
      .send([{ name: "api/echo" }, { name: "api/echo", data: new Date(0) as unknown as Record<string, unknown> }])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "invalid_event", message: expect.stringMatching(/^events\[1\]: "data" must be an object/) });
  });
});

describe("function ownership in dev", () => {
  it("a second app cannot take over another app's function id; the same app may re-sync", async () => {
    const a = registerBody("owner-app", "http://127.0.0.1:9/a", ["owner-app-work"]);
    expect((await send("/fn/register", JSON.stringify(a))).status).toBe(200);
    const b = registerBody("other-app", "http://127.0.0.1:9/b", ["owner-app-work"]);
    const taken = await send("/fn/register", JSON.stringify(b));
    const reply = (await taken.json()) as { error: string; status: number };
    expect({ http: taken.status, ...reply }).toEqual({
      http: 409,
      status: 409,
      error: expect.stringContaining('function "owner-app-work" belongs to app "owner-app"'),
    });
    expect(s.server.apps.list().find((x) => x.appName === "other-app")).toBeUndefined();
    expect((await send("/fn/register", JSON.stringify(a))).status).toBe(200);
    const moved = registerBody("owner-app", "http://127.0.0.1:9/a2", ["owner-app-work"]);
    expect((await send("/fn/register", JSON.stringify(moved))).status).toBe(200);
  });
  it("an app cannot take a function registered in process", async () => {
    const res = await send("/fn/register", JSON.stringify(registerBody("intruder", "http://127.0.0.1:9/i", ["api-echo"])));
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toContain('function "api-echo" belongs to app "api"');
  });
});
