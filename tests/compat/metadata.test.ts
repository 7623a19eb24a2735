/**
 * Event meta and sessions, step metadata, run metadata and scores with the official
 * `inngest` SDK (v4) served on loopback and synced by a Stepwise dev server: the SDK's
 * own features (`ctx.sessions` and its propagation, `metadataMiddleware`, `scoreMiddleware`,
 * `inngest.score`, `inngest.metadata`) against our server.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { metadataMiddleware, scoreMiddleware } from "inngest/experimental";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
const seen: Record<string, unknown> = {};

function defineFunctions(client: Inngest) {
  const invoked = client.createFunction({ id: "invoked", triggers: [] }, async ({ sessions }) => sessions ?? null);
  return [
    invoked,
    client.createFunction({ id: "parent", triggers: [{ event: "meta/parent" }] }, async ({ sessions, step }) => {
      seen.parent = sessions ?? null;
      await step.sendEvent("forward", [
        { name: "meta/child", data: { tag: "inherits" } },
        { name: "meta/child", data: { tag: "overrides" }, meta: { sessions: { chat: null, topic: "t9" } } },
      ]);
      const fromInvoke = await step.invoke("ask-invoked", { function: invoked, data: {} });
      return { sessions: sessions ?? null, fromInvoke };
    }),
    client.createFunction({ id: "child", triggers: [{ event: "meta/child" }] }, async ({ event, sessions }) => {
      seen[`child:${(event.data as { tag: string }).tag}`] = sessions ?? null;
      return sessions ?? null;
    }),
    client.createFunction({ id: "scored", triggers: [{ event: "meta/scored" }] }, async ({ step, runId }) => {
      const answer = await step.run("ask", async () => {
        await client.metadata.set({ model: "m-1", tokens: 12 });
        return "42";
      });
      await (step as unknown as { score(id: string, o: { name: string; value: number | boolean }): Promise<void> }).score("rate", {
        name: "quality",
        value: 0.75,
      });
      await (step as unknown as { metadata(id: string): { set(v: Record<string, unknown>): Promise<void> } }).metadata("note").set({ reviewed: true });
      return { answer, runId };
    }),
  ];
}

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({
    id: "meta",
    isDev: true,
    baseUrl: stepwise.url,
    middleware: [metadataMiddleware(), scoreMiddleware()],
    logger: { info() {}, warn() {}, error() {}, debug() {} },
  });
  app = createServer(serve({ client: inngest, functions: defineFunctions(inngest) }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function runsOf(eventId: string | undefined, count = 1) {
  for (let i = 0; i < 1_000; i++) {
    const runs = await stepwise.engine.listRuns({ eventId: eventId as string });
    if (runs.length >= count) return runs;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no run for event ${eventId}`);
}

async function api(path: string, init?: RequestInit) {
  const res = await fetch(`${stepwise.url}${path}`, { ...init, headers: { "content-type": "application/json" } });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, asserted field by field
  return { status: res.status, body: (await res.json()) as { data?: any; error?: string } };
}

describe("official SDK: event meta and sessions", () => {
  it("carries an event's sessions into its run, into the events the run sends, and into invoked runs", async () => {
    const meta = { sessions: { chat: "c1", user: "u7" } };
    const { ids } = await inngest.send({ name: "meta/parent", data: {}, meta });
    const [parent] = await runsOf(ids[0]);
    const done = await stepwise.engine.waitForRun(parent!.id, { timeoutMs: 20_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toEqual({ sessions: { chat: "c1", user: "u7" }, fromInvoke: { chat: "c1", user: "u7" } });

    // the event is stored and shown exactly as sent
    const shown = await api(`/v1/events/${ids[0]}`);
    expect(shown.body.data).toMatchObject({ meta, sessions: { chat: "c1", user: "u7" } });

    // the children: one inherits both sessions, one cuts "chat" and adds "topic"
    for (let i = 0; i < 1_000 && !(seen["child:inherits"] && seen["child:overrides"]); i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen["child:inherits"]).toEqual({ chat: "c1", user: "u7" });
    expect(seen["child:overrides"]).toEqual({ topic: "t9", user: "u7" });
    const children = (await api("/v1/events?name=meta/child")).body.data as Array<{ data: { tag: string }; meta: unknown; sessions: unknown }>;
    const overrides = children.find((e) => e.data.tag === "overrides");
    expect(overrides?.meta).toEqual({ sessions: { chat: null, topic: "t9" }, propagated_sessions: { chat: "c1", user: "u7" } });
    expect(overrides?.sessions).toEqual({ topic: "t9", user: "u7" });
  });

  it("refuses bad meta with a 400 naming the field, storing nothing", async () => {
    const before = (await api("/v1/events?name=meta/bad")).body.data.length;
    for (const [meta, field] of [
      ["nope", '"meta"'],
      [{ sessions: { chat: { id: 1 } } }, "meta.sessions.chat"],
      [{ propagated_sessions: { chat: null } }, "meta.propagated_sessions.chat"],
      [{ sessions: { a: "1", b: "2", c: "3", d: "4", e: "5", f: "6" } }, "meta.sessions"],
    ] as const) {
      const res = await api("/e/key", { method: "POST", body: JSON.stringify({ name: "meta/bad", data: {}, meta }) });
      expect(res.status).toBe(400);
      expect(res.body.error).toContain(field);
    }
    expect((await api("/v1/events?name=meta/bad")).body.data.length).toBe(before);
  });
});

describe("official SDK: step metadata, run metadata and scores", () => {
  it("stores what steps write, scores from step.score and inngest.score, and shows them over REST", async () => {
    const { ids } = await inngest.send({ name: "meta/scored", data: {} });
    const [run] = await runsOf(ids[0]);
    const done = await stepwise.engine.waitForRun(run!.id, { timeoutMs: 20_000 });
    expect(done.status).toBe("Completed");

    const detail = (await api(`/v1/runs/${run!.id}`)).body.data;
    const ask = detail.steps.find((s: { name: string }) => s.name === "ask");
    expect(ask.metadata).toEqual([{ kind: "userland.default", scope: "step", op: "set", values: { model: "m-1", tokens: 12 } }]);
    expect(detail.metadata.steps.ask).toEqual({ "userland.default": { model: "m-1", tokens: 12 } });
    expect(detail.metadata.scores).toEqual({ quality: 0.75 });
    expect(detail.metadata.run).toEqual({ "inngest.score": { quality: { value: 0.75 } }, "userland.default": { reviewed: true } });

    // outside any run: the SDK posts to /v1/runs/:id/metadata
    await inngest.score({ runId: run!.id, name: "helpful", value: true });
    await inngest.score({ runId: run!.id, name: "quality", value: 0.5 });
    const metadata = (await api(`/v1/runs/${run!.id}/metadata`)).body.data;
    expect(metadata.scores).toEqual({ quality: 0.5, helpful: true });
    expect((await api(`/v1/runs/${run!.id}`)).body.data.metadata.scores).toEqual({ quality: 0.5, helpful: true });
  });

  it("answers 404 for an unknown run and 400 naming the field for a bad body", async () => {
    await expect(inngest.score({ runId: "01NOSUCHRUN0000000000000000", name: "q", value: 1 })).rejects.toThrow(/no run with id/);
    const [run] = await stepwise.engine.listRuns({ limit: 1 });
    const post = (body: unknown) => api(`/v1/runs/${run!.id}/metadata`, { method: "POST", body: JSON.stringify(body) });
    const cases: Array<[unknown, string]> = [
      [{ metadata: "x" }, "metadata"],
      [{ metadata: [] }, "metadata"],
      [{ metadata: [{ kind: "k", op: "replace", values: {} }] }, "metadata[0].op"],
      [{ metadata: [{ kind: "", op: "set", values: {} }] }, "metadata[0].kind"],
      [{ metadata: [{ kind: "k", op: "set", values: [] }] }, "metadata[0].values"],
      [{ metadata: [{ kind: "inngest.score", op: "merge", values: { q: { value: "high" } } }] }, "metadata[0].values.q.value"],
      [{ target: { run_id: "other" }, metadata: [{ kind: "k", op: "set", values: {} }] }, "target.run_id"],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toContain(field);
    }
    const bad = await api(`/v1/runs/${run!.id}/metadata`, { method: "POST", body: "{" });
    expect(bad.status).toBe(400);
    expect((await api("/v1/runs/01NOSUCHRUN0000000000000000/metadata")).status).toBe(404);
  });
});

describe("official SDK (cloud mode) against stepwise start: the metadata route is authenticated", () => {
  it("takes the app's signing-key bearer, refuses a request without credentials", async () => {
    const signingKey = "signkey-test-0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const started = await runServer({ mode: "start", port: 0, db: ":memory:", signingKey, eventKey: "evt-meta", logRuns: false, logger: silentLogger });
    try {
      const cloud = new Inngest({ id: "meta-cloud", isDev: false, baseUrl: started.url, signingKey, eventKey: "evt-meta", logger: silentLogger });
      const unauthenticated = await fetch(`${started.url}/v1/runs/whatever/metadata`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ metadata: [{ kind: "inngest.score", op: "merge", values: { q: { value: 1 } } }] }),
      });
      expect(unauthenticated.status).toBe(401);
      // with the SDK's bearer the request reaches the route: an unknown run is a 404, not a 401
      await expect(cloud.score({ runId: "01NOSUCHRUN0000000000000000", name: "q", value: 1 })).rejects.toThrow(/no run with id/);
    } finally {
      await started.close();
    }
  }, 30_000);
});
