/**
 * `defer()` (the official SDK v4's experimental API) served by a Stepwise dev server:
 * `DeferAdd` / `DeferAbort` ops riding along other answers are recorded with the run,
 * later calls carry them back as `defers`, and the deferred runs start once the parent
 * ends, linked to it (`parentRunId`).
 */

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest, NonRetriableError } from "inngest";
import { createDefer } from "inngest/experimental";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { type ReceivedCall, recordingApp } from "./recording-app.ts";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
const calls: ReceivedCall[] = [];
/** What each deferred run saw: its data and its parent, in the order they ran. */
const received: Array<{ data: unknown; parent: unknown; parentStillRunning?: boolean; sessions?: Record<string, string> }> = [];
/** Set by the parent's last step: a deferred run that starts before it would see false. */
const parentDone = new Set<string>();

function defineFunctions(client: Inngest) {
  const notify = createDefer(client, { id: "notify" }, async ({ event, parents, step, sessions }) => {
    const parent = parents[0];
    received.push({ data: event.data, parent, parentStillRunning: !parentDone.has(String(event.data.tag)), ...(sessions ? { sessions } : {}) });
    return step.run("ack", () => `ack ${event.data.tag}`);
  });
  return [
    notify,
    client.createFunction({ id: "deferring", triggers: [{ event: "defer/go" }] }, async ({ event, step, defer }) => {
      defer("tell", { function: notify, data: { tag: event.data.tag, n: 1 } });
      await step.run("work", () => "worked");
      await step.sleep("nap", "50ms");
      await step.run("last", () => parentDone.add(String(event.data.tag)) && "last");
      return "parent done";
    }),
    client.createFunction({ id: "aborting", triggers: [{ event: "defer/abort" }] }, async ({ event, step, defer }) => {
      const dropped = defer("dropped", { function: notify, data: { tag: `${event.data.tag}-dropped` } });
      defer("kept", { function: notify, data: { tag: `${event.data.tag}-kept` } });
      await step.run("work", () => "worked");
      dropped.abort();
      await step.sleep("nap", "50ms");
      parentDone.add(`${event.data.tag}-kept`);
      return "aborted one";
    }),
    client.createFunction({ id: "failing", retries: 0, triggers: [{ event: "defer/fail" }] }, async ({ event, defer }) => {
      defer("after-failure", { function: notify, data: { tag: event.data.tag } });
      parentDone.add(String(event.data.tag));
      throw new NonRetriableError("parent broke");
    }),
    client.createFunction({ id: "in-sessions", triggers: [{ event: "defer/sessions" }] }, async ({ event, defer }) => {
      parentDone.add(`${event.data.tag}-inherit`);
      parentDone.add(`${event.data.tag}-override`);
      defer("inherit", { function: notify, data: { tag: `${event.data.tag}-inherit` } });
      defer("override", { function: notify, data: { tag: `${event.data.tag}-override` }, meta: { sessions: { org: "override", team: null } } });
      return "deferred in sessions";
    }),
    client.createFunction({ id: "at-return", triggers: [{ event: "defer/return" }] }, async ({ event, defer }) => {
      parentDone.add(String(event.data.tag));
      defer("on-return", { function: notify, data: { tag: event.data.tag } });
      return "returned";
    }),
  ];
}

beforeAll(async () => {
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  inngest = new Inngest({ id: "dfr", isDev: true, sessionPropagation: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  app = recordingApp(serve({ client: inngest, functions: defineFunctions(inngest) }), (call) => calls.push(call));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}/api/inngest`;
  const record = await stepwise.server.apps.sync(url);
  expect(record.error).toBeUndefined();
  expect(record.functionIds).toContain("dfr-notify");
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
});

async function endedRun(eventId: string, functionId: string) {
  let id: string | undefined;
  await until(async () => {
    const run = (await stepwise.engine.listRuns({ eventId })).find((r) => r.functionId === functionId);
    id = run && ["Completed", "Failed", "Cancelled"].includes(run.status) ? run.id : undefined;
    return id !== undefined;
  }, 10_000);
  return (await stepwise.engine.getRun(id as string)) as NonNullable<Awaited<ReturnType<RunningServer["engine"]["getRun"]>>>;
}

async function childrenOf(parentRunId: string, count: number) {
  let children: Awaited<ReturnType<RunningServer["engine"]["listRuns"]>> = [];
  await until(async () => {
    children = await stepwise.engine.listRuns({ parentRunId });
    return children.length >= count && children.every((c) => c.status === "Completed");
  }, 10_000);
  return children;
}

describe("defer with the official SDK, served", () => {
  it("records the DeferAdd, hands it back as defers on later calls, and starts the deferred run after the parent completes", async () => {
    const { ids } = await inngest.send({ name: "defer/go", data: { tag: "go" } });
    const parent = await endedRun(ids[0] as string, "dfr-deferring");
    expect(parent.status).toBe("Completed");
    expect(parent.output).toBe("parent done");
    const [child] = await childrenOf(parent.id, 1);
    expect(child?.functionId).toBe("dfr-notify");
    expect(child?.parentRunId).toBe(parent.id);
    expect((await stepwise.engine.getRun(child?.id as string))?.output).toBe("ack go");
    const seen = received.find((r) => (r.data as { tag?: string }).tag === "go");
    expect(seen).toEqual({ data: { tag: "go", n: 1 }, parent: { fnSlug: "dfr-deferring", runId: parent.id }, parentStillRunning: false });
    // the defer is a step of the parent (for people), never part of the memo
    const defer = parent.steps.find((s) => s.op === "DeferAdd");
    expect(defer).toMatchObject({ name: "tell", status: "Completed", input: { function: "dfr-notify", data: { tag: "go", n: 1 } } });
    const parentCalls = calls.filter((c) => (c.body as { ctx: { run_id: string } }).ctx.run_id === parent.id);
    const last = parentCalls.at(-1)?.body as { steps: Record<string, unknown>; defers?: Record<string, unknown> };
    expect(last.defers).toEqual({ [defer?.id as string]: { abortable: true } });
    expect(Object.keys(last.steps)).not.toContain(defer?.id);
    // one deferred run, though every later call replayed the defer() call
    expect(received.filter((r) => (r.data as { tag?: string }).tag === "go")).toHaveLength(1);
    // the REST API links both ways
    const get = async (path: string) => ((await (await fetch(`${stepwise.url}${path}`)).json()) as { data: Record<string, unknown> }).data;
    expect((await get(`/v1/runs/${parent.id}`)).deferred_runs).toEqual([{ run_id: child?.id, function_id: "dfr-notify", status: "Completed" }]);
    expect((await get(`/v1/runs/${parent.id}`)).parent_run_id).toBeNull();
    expect((await get(`/v1/runs/${child?.id}`)).parent_run_id).toBe(parent.id);
    const listed = (await (await fetch(`${stepwise.url}/v1/runs?parent_run_id=${parent.id}`)).json()) as { data: Array<{ run_id: string }> };
    expect(listed.data.map((r) => r.run_id)).toEqual([child?.id]);
  }, 20_000);

  it("DeferAbort on a later call drops that defer; the other still starts", async () => {
    const { ids } = await inngest.send({ name: "defer/abort", data: { tag: "ab" } });
    const parent = await endedRun(ids[0] as string, "dfr-aborting");
    expect(parent.status).toBe("Completed");
    const children = await childrenOf(parent.id, 1);
    expect(parent.steps.filter((s) => s.op === "DeferAbort")).toHaveLength(1);
    // the parent's end scheduled its defers in its final commit: all its children exist by now
    expect(children.map((c) => c.functionId)).toEqual(["dfr-notify"]);
    const tags = received.map((r) => (r.data as { tag?: string }).tag);
    expect(tags).toContain("ab-kept");
    expect(tags).not.toContain("ab-dropped");
    const dropped = parent.steps.find((s) => s.op === "DeferAdd" && s.name === "dropped");
    const last = calls.filter((c) => (c.body as { ctx: { run_id: string } }).ctx.run_id === parent.id).at(-1)?.body as { defers?: Record<string, unknown> };
    expect(last.defers?.[dropped?.id as string]).toEqual({ abortable: false });
  }, 20_000);

  it("a DeferAdd riding along the function's return ([DeferAdd, RunComplete]) completes the run and starts the deferred run", async () => {
    const { ids } = await inngest.send({ name: "defer/return", data: { tag: "ret" } });
    const parent = await endedRun(ids[0] as string, "dfr-at-return");
    expect(parent.status).toBe("Completed");
    expect(parent.output).toBe("returned");
    const [child] = await childrenOf(parent.id, 1);
    expect(child?.parentRunId).toBe(parent.id);
  }, 20_000);

  it("a parent that fails still starts its defers", async () => {
    const { ids } = await inngest.send({ name: "defer/fail", data: { tag: "failed" } });
    const parent = await endedRun(ids[0] as string, "dfr-failing");
    expect(parent.status).toBe("Failed");
    const [child] = await childrenOf(parent.id, 1);
    expect(child?.functionId).toBe("dfr-notify");
  }, 20_000);

  it("a deferred run is in its parent's sessions; the defer's own meta.sessions override them per key (a null cuts one)", async () => {
    const { ids } = await inngest.send({ name: "defer/sessions", data: { tag: "ses" }, meta: { sessions: { org: "acme", team: "core", user: 7 } } });
    const parent = await endedRun(ids[0] as string, "dfr-in-sessions");
    expect(parent.status).toBe("Completed");
    expect(await childrenOf(parent.id, 2)).toHaveLength(2);
    const seen = (tag: string) => received.find((r) => (r.data as { tag?: string }).tag === tag)?.sessions;
    expect(seen("ses-inherit")).toEqual({ org: "acme", team: "core", user: "7" });
    expect(seen("ses-override")).toEqual({ org: "override", user: "7" });
  }, 20_000);
});
