/**
 * The server's HTTP API through `app.request` (no socket): event API, registration,
 * REST v1, SDK v0, health, errors, and start-mode authentication.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { hashSigningKey, silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Stepwise } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";

const signingKey = "signkey-test-0123456789abcdef";
const engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(mode: "dev" | "start" = "dev") {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-api-"));
  dirs.push(dir);
  const store = new SqliteStore({ filename: join(dir, "api.db") });
  await store.migrate();
  const engine = createEngine({ store, logger: silentLogger, retryDelayScale: 0.01 });
  engines.push(engine);
  const client = new Stepwise({ id: "api", logger: silentLogger });
  const echo = client.createFunction({ id: "echo" }, { event: "api/echo" }, async ({ event, step }) => step.run("echo", () => event.data));
  const sleeper = client.createFunction({ id: "sleeper" }, { event: "api/sleep" }, async ({ step }) => step.sleep("long", "1h"));
  engine.register({ client, functions: [echo, sleeper] });
  await engine.start();
  const server = createServer({ engine, logger: silentLogger, mode, ...(mode === "start" ? { signingKey, eventKey: "evt-key" } : {}) });
  const call = (path: string, init?: RequestInit) => server.app.request(path, init);
  const json = async (path: string, init?: RequestInit) => {
    const res = await call(path, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { engine, server, call, json };
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("event API", () => {
  it("accepts one event or an array and replies { ids, status: 200 }", async () => {
    const { json, engine } = await setup();
    const one = await json("/e/any-key", post({ name: "api/echo", data: { n: 1 } }));
    expect(one).toEqual({ status: 200, body: { ids: [expect.any(String)], status: 200 } });
    const many = await json("/e/any-key", post([{ name: "api/echo" }, { name: "api/other" }]));
    expect((many.body.ids as string[]).length).toBe(2);
    const [run] = await engine.listRuns({ eventId: (one.body.ids as string[])[0]! });
    expect((await engine.waitForRun(run!.id)).output).toEqual({ n: 1 });
  });

  it("gives a retried request (same x-inngest-event-id-seed) the same ids and runs it once", async () => {
    const { json, engine } = await setup();
    const headers = { "x-inngest-event-id-seed": "1795311001837,qvaA0UEG0A2J8w==" };
    const first = await json("/e/k", post([{ name: "api/echo", data: { n: 1 } }], headers));
    const retry = await json("/e/k", post([{ name: "api/echo", data: { n: 1 } }], headers));
    expect(retry.body.ids).toEqual(first.body.ids);
    expect(await engine.listRuns({ functionId: "api-echo" })).toHaveLength(1);
  });

  it("rejects malformed JSON and bad events with a message naming the problem, storing nothing", async () => {
    const { json, engine } = await setup();
    const bad = await json("/e/k", post("{not json"));
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^malformed JSON/);
    const badEvent = await json("/e/k", post([{ name: "api/echo" }, { data: {} }]));
    expect(badEvent).toEqual({
      status: 400,
      body: { error: 'events[1]: "name" is required and must be a non-empty string', code: "invalid_event", status: 400 },
    });
    expect(await engine.listRuns({})).toEqual([]);
  });

  it("rejects an oversized body with 413", async () => {
    const { engine } = await setup();
    const small = createServer({ engine, logger: silentLogger, mode: "dev", maxBodyBytes: 1024 });
    const res = await small.app.request("/e/k", post({ name: "api/echo", data: { blob: "x".repeat(5000) } }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/larger than 1024 bytes/);
    expect(await engine.listRuns({})).toEqual([]);
  });
});

describe("registration", () => {
  const wire = (overrides: Record<string, unknown> = {}) => ({
    url: "http://127.0.0.1:9/api/inngest",
    appName: "remote",
    deployType: "ping",
    framework: "nodejs",
    sdk: "js:v4.24.0",
    v: "0.1",
    functions: [
      {
        id: "remote-fn",
        name: "Remote",
        triggers: [{ event: "remote/go" }],
        steps: {
          step: {
            id: "step",
            name: "step",
            runtime: { type: "http", url: "http://127.0.0.1:9/api/inngest?fnId=remote-fn&stepId=step" },
            retries: { attempts: 2 },
          },
        },
        ...overrides,
      },
    ],
  });

  it("registers an app's functions and says whether anything changed", async () => {
    const { json, engine } = await setup();
    expect(await json("/fn/register", post(wire()))).toEqual({ status: 200, body: { ok: true, modified: true } });
    expect(await json("/fn/register", post(wire()))).toEqual({ status: 200, body: { ok: true, modified: false } });
    const fn = engine.functions().find((f) => f.config.id === "remote-fn");
    expect(fn?.config).toMatchObject({ slug: "fn", appId: "remote", retries: 2, triggers: [{ event: "remote/go" }] });
    const apps = await json("/v1/apps");
    expect(apps.body.data).toEqual([expect.objectContaining({ appName: "remote", functionIds: ["remote-fn"], sdk: "js:v4.24.0" })]);
  });

  it("rejects bad configs with { status, error } naming the function and field", async () => {
    const { json } = await setup();
    const cron = await json("/fn/register", post(wire({ triggers: [{ cron: "every day" }] })));
    expect(cron.status).toBe(400);
    expect(cron.body).toEqual({ status: 400, error: expect.stringMatching(/function "fn": triggers\[0\].cron: invalid cron "every day"/) });
    const expr = await json("/fn/register", post(wire({ triggers: [{ event: "x", expression: "event.data.a ==" }] })));
    expect(expr.body.error).toMatch(/triggers\[0\].if: invalid expression "event.data.a =="/);
    const batch = await json("/fn/register", post(wire({ batchEvents: { maxSize: 500, timeout: "5s" } })));
    expect(batch.body.error).toMatch(/function "fn": batchEvents.maxSize: must be at most 100, received 500/);
    const noUrl = await json("/fn/register", post({ ...wire(), url: undefined }));
    expect(noUrl).toEqual({ status: 400, body: { status: 400, error: 'register: "url" is required' } });
  });
});

describe("REST API", () => {
  it("lists and reads events, their runs, runs with steps, and cancels runs", async () => {
    const { json, engine } = await setup();
    const sent = await json("/e/k", post([{ name: "api/echo", data: { a: 1 } }, { name: "api/sleep" }]));
    const [echoId, sleepId] = sent.body.ids as string[];
    const echoRun = (await engine.listRuns({ eventId: echoId! }))[0]!;
    await engine.waitForRun(echoRun.id);
    const events = await json("/v1/events?name=api/echo&limit=10");
    expect(events.body.data).toEqual([expect.objectContaining({ internal_id: echoId, name: "api/echo", data: { a: 1 } })]);
    expect((await json(`/v1/events/${echoId}`)).body.data).toMatchObject({ internal_id: echoId });
    const runs = await json(`/v1/events/${echoId}/runs`);
    expect(runs.body.data).toEqual([
      expect.objectContaining({ run_id: echoRun.id, function_id: "api-echo", event_id: echoId, status: "Completed", output: { a: 1 } }),
    ]);
    const run = await json(`/v1/runs/${echoRun.id}`);
    expect(run.body.data).toMatchObject({ run_id: echoRun.id, status: "Completed", run_started_at: expect.any(String), ended_at: expect.any(String) });
    expect((run.body.data as { steps: unknown[] }).steps).toEqual([
      expect.objectContaining({ name: "echo", status: "Completed", attempts: 1, output: { a: 1 } }),
    ]);
    const sleeping = (await engine.listRuns({ eventId: sleepId! }))[0]!;
    for (let i = 0; i < 100 && (await engine.getRun(sleeping.id))?.status !== "Running"; i++) await new Promise((r) => setTimeout(r, 10));
    const cancelled = await json(`/v1/runs/${sleeping.id}`, { method: "DELETE" });
    expect(cancelled.body.data).toMatchObject({ run_id: sleeping.id, status: "Cancelled" });
  });

  it("answers unknown ids and bad queries with clear errors", async () => {
    const { json } = await setup();
    expect(await json("/v1/runs/nope")).toEqual({ status: 404, body: { error: "no run with id nope", code: "not_found", status: 404 } });
    expect((await json("/v1/events?limit=0")).body.error).toMatch(/limit: expected an integer from 1 to 1000/);
    expect((await json("/v1/runs?status=Done")).body.error).toMatch(/status: expected one of Queued, Running/);
    expect((await json("/nowhere")).status).toBe(404);
    expect(await json("/health")).toEqual({ status: 200, body: { status: "ok", mode: "dev" } });
  });

  it("serves a run's events and memoized steps on /v0 for use_api", async () => {
    const { json, engine } = await setup();
    const sent = await json("/e/k", post({ name: "api/echo", data: { z: 1 } }));
    const run = (await engine.listRuns({ eventId: (sent.body.ids as string[])[0]! }))[0]!;
    await engine.waitForRun(run.id);
    const batch = await json(`/v0/runs/${run.id}/batch`);
    expect(batch.body).toEqual([expect.objectContaining({ name: "api/echo", data: { z: 1 } })]);
    const actions = await json(`/v0/runs/${run.id}/actions`);
    expect(Object.values(actions.body)).toEqual([{ data: { z: 1 } }]);
  });
});

describe("start mode", () => {
  it("requires the event key on /e and the signing key's bearer on the APIs", async () => {
    const { json } = await setup("start");
    expect((await json("/e/wrong", post({ name: "api/echo" }))).status).toBe(401);
    expect((await json("/e/evt-key", post({ name: "api/echo" }))).status).toBe(200);
    expect((await json("/v1/runs")).status).toBe(401);
    expect((await json("/fn/register", post({}))).status).toBe(401);
    const authed = await json("/v1/runs", { headers: { authorization: `Bearer ${hashSigningKey(signingKey)}` } });
    expect(authed.status).toBe(200);
  });

  it("refuses to start without keys", () => {
    expect(() => createServer({ engine: {} as Engine, mode: "start", signingKey })).toThrow(/start mode needs both signingKey and eventKey/);
  });
});
