/**
 * Stepwise's own realtime API, the same function code in both modes:
 * - in-process: the engine (a real SQLite file, or Postgres with STEPWISE_TEST_STORE=postgres)
 *   carries messages on its bus; `subscribe` listens on it directly;
 * - served: the function is served with `stepwise/node` and run by a Stepwise dev server;
 *   it publishes over `POST /v1/realtime/publish` and `subscribe` reads the server's SSE
 *   stream with a subscription token from `POST /v1/realtime/token`.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type AnyStepwise, channel, getSubscriptionToken, Middleware, Stepwise, subscribe, topic } from "stepwise";
import type { InProcessRealtimeBus } from "stepwise/engine";
import { serve } from "stepwise/node";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startEngine, until } from "../helpers.ts";

const progress = channel({
  name: (orderId: string) => `order:${orderId}`,
  topics: { status: topic<{ state: string }>(), log: topic(z.string().max(20)) },
});

function orderFunction(client: AnyStepwise, counter: { attempts: number }) {
  return client.createFunction({ id: "order", retries: 2, triggers: [{ event: "rt/order" }] }, async ({ event, step }) => {
    const ch = progress(String(event.data.orderId));
    const started = await step.realtime.publish("announce", ch.status, { state: "started" });
    await step.run("flaky", () => {
      if (++counter.attempts < 2) throw new Error("flake");
      return counter.attempts;
    });
    await client.realtime.publish(ch.log, `attempt ${counter.attempts}`);
    await step.realtime.publish("finish", ch.status, { state: "done" });
    return started;
  });
}

async function collect<T>(stream: ReadableStream<T>, n: number, timeoutMs = 10_000): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  const timer = setTimeout(() => void reader.cancel(), timeoutMs);
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    out.push(value);
  }
  clearTimeout(timer);
  reader.releaseLock();
  return out;
}

describe("realtime in-process", () => {
  it("step.realtime.publish publishes once per step, client.realtime.publish as it runs; subscribe receives them in order", async () => {
    const client = new Stepwise({ id: "rt-local", logger: silentLogger });
    const counter = { attempts: 0 };
    const { engine } = await startEngine({ client, functions: [orderFunction(client, counter)] });
    if ("ready" in engine.realtime) await (engine.realtime as { ready(): Promise<void> }).ready();
    const token = await getSubscriptionToken(client, { channel: progress("1"), topics: ["status", "log"] });
    expect(token.key).toBeUndefined();
    const sub = await subscribe(token);
    const other: unknown[] = [];
    const otherSub = await client.realtime.subscribe({ channel: progress("2"), topics: ["status"] }, (m) => {
      other.push(m.data);
    });
    const reading = collect(sub, 3);
    const { ids } = await client.send({ name: "rt/order", data: { orderId: "1" } });
    const [run] = await engine.listRuns({ eventId: ids[0] as string });
    const done = await engine.waitForRun(run?.id as string, { timeoutMs: 15_000 });
    expect(done.status).toBe("Completed");
    expect(done.output).toEqual({ state: "started" });
    const messages = await reading;
    expect(messages.map((m) => [m.topic, m.data])).toEqual([
      ["status", { state: "started" }],
      ["log", "attempt 2"],
      ["status", { state: "done" }],
    ]);
    expect(messages[0]).toMatchObject({ kind: "data", channel: "order:1", runId: done.id });
    // client.realtime.publish inside the handler carries the run too
    expect(messages.map((m) => m.runId)).toEqual([done.id, done.id, done.id]);
    expect(messages[0]?.createdAt).toBeInstanceOf(Date);
    expect(done.steps.find((s) => s.name === "announce")).toMatchObject({ status: "Completed", attempts: 1 });
    expect(counter.attempts).toBe(2);
    // a message that fails its topic's schema is refused on publish, naming the topic
    await expect(client.realtime.publish(progress("1").log, "x".repeat(50))).rejects.toThrow(/topic "log" of channel "order:1" failed its schema/);
    // the next message after the run is the marker: the retry did not publish "announce" again, and the refused one never went out
    const next = collect(sub, 1);
    await client.realtime.publish(progress("1").log, "marker");
    expect((await next).map((m) => m.data)).toEqual(["marker"]);
    expect(other).toEqual([]);
    sub.close();
    otherSub.close();
  }, 30_000);

  it('middleware sees the publishing step as stepType "realtime.publish", as the official SDK reports it', async () => {
    const seen: [string, string][] = [];
    class Watch extends Middleware.BaseMiddleware {
      readonly id = "watch";
      override onStepStart({ stepInfo }: Middleware.StepArgs) {
        seen.push([stepInfo.options.id, String(stepInfo.stepType)]);
      }
    }
    const client = new Stepwise({ id: "rt-mw", logger: silentLogger, middleware: [Watch] });
    const ch = channel({ name: "mw", topics: { t: topic<number>() } });
    const fn = client.createFunction({ id: "mw", triggers: [{ event: "rt/mw" }] }, async ({ step }) => {
      await step.run("plain", () => 1);
      return step.realtime.publish("pub", ch.t, 2);
    });
    const { engine } = await startEngine({ client, functions: [fn] });
    const { ids } = await client.send({ name: "rt/mw" });
    const [run] = await engine.listRuns({ eventId: ids[0] as string });
    expect((await engine.waitForRun(run?.id as string, { timeoutMs: 10_000 })).output).toBe(2);
    expect(seen).toEqual([
      ["plain", "run"],
      ["pub", "realtime.publish"],
    ]);
  });

  it("bad arguments are TypeErrors naming the field", async () => {
    expect(() => channel({ name: "", topics: {} })).toThrow(/channel name/);
    expect(() => channel({ name: "c", topics: { name: {} } })).toThrow(/may not be named "name"/);
    expect(() => channel({ name: "c", topics: { t: { schema: 5 as never } } })).toThrow(/Standard Schema/);
    const client = new Stepwise({ id: "rt-bad", logger: silentLogger });
    await expect(client.realtime.publish({} as never, 1)).rejects.toThrow(/topic of a channel/);
    await expect(getSubscriptionToken(client, { channel: "c", topics: [] })).rejects.toThrow(/"topics"/);
  });
});

describe("realtime served", () => {
  let stepwise: RunningServer | undefined;
  let app: Server | undefined;
  afterAll(async () => {
    await stepwise?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it("a served function's publishes reach an SSE subscriber with a server-issued token", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const client = new Stepwise({ id: "rt-served", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
    const counter = { attempts: 0 };
    app = createServer(serve({ client, functions: [orderFunction(client, counter)] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
    expect(record.error).toBeUndefined();

    const token = await getSubscriptionToken(client, { channel: progress("9"), topics: ["status", "log"] });
    expect(token.key).toMatch(/^ey/);
    expect(token.apiBaseUrl).toBe(stepwise.url);
    // the token travels to a browser as JSON: subscribe needs only what survives that
    const sub = await subscribe(JSON.parse(JSON.stringify({ ...token, channel: progress("9").name })) as typeof token);
    const reading = collect(sub, 3);
    const { ids } = await client.send({ name: "rt/order", data: { orderId: "9" } });
    const [run] = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    const done = await stepwise.engine.waitForRun(run?.id as string, { timeoutMs: 15_000 });
    expect(done.error ?? null).toBeNull();
    expect(done.status).toBe("Completed");
    const messages = await reading;
    expect(messages.map((m) => [m.topic, m.data])).toEqual([
      ["status", { state: "started" }],
      ["log", "attempt 2"],
      ["status", { state: "done" }],
    ]);
    expect(messages[0]).toMatchObject({ channel: "order:9", runId: done.id, fnId: "rt-served-order" });
    expect(messages.map((m) => m.runId)).toEqual([done.id, done.id, done.id]);
    expect(done.steps.find((s) => s.name === "announce")).toMatchObject({ status: "Completed", attempts: 1 });
    const next = collect(sub, 1);
    await client.realtime.publish(progress("9").status, { state: "marker" });
    expect((await next).map((m) => m.data)).toEqual([{ state: "marker" }]);
    const bus = stepwise.engine.realtime as InProcessRealtimeBus;
    expect(bus.size).toBe(1);
    sub.close();
    // the server lets go of the subscription once the client has closed it
    await until(() => bus.size === 0);
    expect(bus.size).toBe(0);

    // a forged key is refused
    await expect(subscribe({ ...token, key: `${token.key}x` })).rejects.toThrow(/answered 401/);

    // closing the server's realtime ends open subscriptions (their streams end) and refuses new ones
    const open = await subscribe(await getSubscriptionToken(client, { channel: progress("9"), topics: ["status"] }));
    const reader = open.getReader();
    stepwise.server.realtime.close();
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    await expect(subscribe(await getSubscriptionToken(client, { channel: progress("9"), topics: ["status"] }))).rejects.toThrow(/answered 503/);
  }, 30_000);
});
