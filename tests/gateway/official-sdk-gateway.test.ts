/**
 * step.fetch and step.ai.* from the official `inngest` SDK (v4), served on loopback and
 * synced by a Stepwise dev server: the server performs the Gateway / AIGateway requests
 * between calls and hands the SDK the memo shapes it expects; keys stay out of the run
 * as the REST API shows it.
 */
import { createServer, type Server } from "node:http";
import { CLIError, type RunningServer, runCli, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, fakeLlm, fakeTarget } from "./fake-servers.ts";

let stepwise: RunningServer;
let app: Server;
let inngest: Inngest;
let llm: FakeServer & { failNext: number[] };
let target: FakeServer;
let after = 0;
let parallelRuns = 0;

function defineFunctions(client: Inngest) {
  return [
    client.createFunction({ id: "fetcher", retries: 3, triggers: [{ event: "ogw/fetch" }] }, async ({ step }) => {
      const res = await step.fetch(`${target.url}/hello`);
      const posted = await step.fetch(`${target.url}/status/202`, { method: "POST", headers: { "x-api-key": "fetch-secret", "x-a": "b" }, body: "ping" });
      const failing = await step.fetch(`${target.url}/status/404`);
      await step.run("after", () => {
        if (++after < 3) throw new Error(`after fails ${after}`);
      });
      return { status: res.status, body: await res.text(), posted: posted.status, failing: failing.status };
    }),
    client.createFunction({ id: "cp-fetch", checkpointing: { bufferedSteps: 1 }, triggers: [{ event: "ogw/cp" }] }, async ({ step }) => {
      const before = await step.run("before", () => "first");
      const res = await step.fetch(`${target.url}/status/207`);
      const last = await step.run("last", () => "done");
      return [before, res.status, last];
    }),
    client.createFunction({ id: "par-fetch", triggers: [{ event: "ogw/par" }] }, async ({ step }) => {
      const [a, b, r] = await Promise.all([
        step.fetch(`${target.url}/status/203`),
        step.fetch(`${target.url}/status/206`),
        step.run("work", () => ++parallelRuns),
      ]);
      return [a.status, b.status, r];
    }),
    client.createFunction({ id: "slow-fetch", retries: 0, triggers: [{ event: "ogw/slow" }] }, async ({ step }) => {
      await step.fetch(`${target.url}/slow`);
      return "answered";
    }),
    client.createFunction({ id: "ai", retries: 2, triggers: [{ event: "ogw/ai" }] }, async ({ step }) => {
      const { openai, anthropic, gemini } = step.ai.models;
      const o = (await step.ai.infer("ask-openai", {
        model: openai({ model: "gpt-4o", apiKey: "sk-openai-served", baseUrl: `${llm.url}/v1` }),
        body: { messages: [{ role: "user", content: "hi" }] },
      })) as { choices: { message: { content: string } }[] };
      const a = (await step.ai.infer("ask-claude", {
        model: anthropic({ model: "claude-sonnet-4-5", apiKey: "sk-ant-served", baseUrl: `${llm.url}/v1`, defaultParameters: { max_tokens: 32 } }),
        body: { messages: [{ role: "user", content: "hello" }], max_tokens: 32 },
      })) as { content: { text: string }[] };
      const g = (await step.ai.infer("ask-gemini", {
        model: gemini({ model: "gemini-2.0-flash", apiKey: "gm-served-key", baseUrl: `${llm.url}/v1beta` }),
        body: { contents: [{ role: "user", parts: [{ text: "hey" }] }] },
      })) as { candidates: { content: { parts: { text: string }[] } }[] };
      const wrapped = await step.ai.wrap("wrapped", async (p: string) => `wrapped ${p}`, "prompt");
      return [o.choices[0]?.message.content, a.content[0]?.text, g.candidates[0]?.content.parts[0]?.text, wrapped];
    }),
  ];
}

beforeAll(async () => {
  llm = await fakeLlm();
  target = await fakeTarget();
  stepwise = await runServer({
    mode: "dev",
    port: 0,
    db: ":memory:",
    logRuns: false,
    retryDelayScale: 0.01,
    logger: silentLogger,
    gateway: { timeoutMs: 200 },
  });
  inngest = new Inngest({ id: "ogw", isDev: true, baseUrl: stepwise.url, logger: { info() {}, warn() {}, error() {}, debug() {} } });
  app = createServer(serve({ client: inngest, functions: defineFunctions(inngest) }));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", () => resolve()));
  const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
  expect(record.error).toBeUndefined();
}, 30_000);

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => app?.close(() => resolve()));
  await llm?.close();
  await target?.close();
});

async function runOf(eventId: string | undefined) {
  for (let i = 0; i < 500; i++) {
    const runs = await stepwise.engine.listRuns({ eventId: eventId as string });
    if (runs[0]) return runs[0];
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no run for event ${eventId}`);
}

async function restRun(runId: string): Promise<string> {
  const res = await fetch(`${stepwise.url}/v1/runs/${runId}`);
  expect(res.status).toBe(200);
  return res.text();
}

describe("official SDK step.fetch / step.ai against stepwise dev", () => {
  it("performs step.fetch once per step, memoized as {status_code, headers, body}", async () => {
    const { ids } = await inngest.send({ name: "ogw/fetch" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 20_000 });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ status: 201, body: "created", posted: 202, failing: 404 });
    expect(after).toBe(3);
    expect([target.hits("/hello"), target.hits("/status/202"), target.hits("/status/404")]).toEqual([1, 1, 1]);
    const received = target.received.find((r) => r.path === "/status/202");
    expect([received?.method, received?.body, received?.headers["x-api-key"], received?.headers["x-a"]]).toEqual(["POST", "ping", "fetch-secret", "b"]);
    const steps = run.steps.filter((s) => s.op === "Gateway");
    expect(steps.map((s) => s.name)).toEqual(["step.fetch: 127.0.0.1", "step.fetch: 127.0.0.1:1", "step.fetch: 127.0.0.1:2"]);
    expect(steps[0]?.output).toMatchObject({ status_code: 201, body: "created" });
    expect(steps[1]?.input).toMatchObject({ method: "POST", headers: { "x-api-key": "[redacted]", "x-a": "b" }, body: "ping" });
    expect(await restRun(run.id)).not.toContain("fetch-secret");
  }, 30_000);

  it("performs step.fetch in a function with checkpointing enabled, between checkpointed steps", async () => {
    const { ids } = await inngest.send({ name: "ogw/cp" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 20_000 });
    expect(run.error).toBeUndefined();
    expect(run.output).toEqual(["first", 207, "done"]);
    expect(target.hits("/status/207")).toBe(1);
    expect(run.steps.map((s) => [s.name, s.op, s.status])).toEqual([
      ["before", "StepRun", "Completed"],
      ["step.fetch: 127.0.0.1", "Gateway", "Completed"],
      ["last", "StepRun", "Completed"],
    ]);
  }, 30_000);

  it("runs parallel step.fetch calls beside a parallel step.run, each once", async () => {
    const { ids } = await inngest.send({ name: "ogw/par" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 20_000 });
    expect(run.error).toBeUndefined();
    expect(run.output).toEqual([203, 206, 1]);
    expect([target.hits("/status/203"), target.hits("/status/206"), parallelRuns]).toEqual([1, 1, 1]);
  }, 30_000);

  it("fails a step.fetch that times out, with the timeout named", async () => {
    const { ids } = await inngest.send({ name: "ogw/slow" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 10_000 });
    expect(run.status).toBe("Failed");
    expect(run.steps.find((s) => s.op === "Gateway")).toMatchObject({ status: "Failed", attempts: 1, error: { name: "GatewayTimeoutError" } });
    expect(run.error?.message).toMatch(/did not answer within 200 ms/);
  }, 15_000);

  it("calls each provider as the official model helpers describe it and keeps keys out of the run", async () => {
    const before = llm.received.length;
    const { ids } = await inngest.send({ name: "ogw/ai" });
    const run = await stepwise.engine.waitForRun((await runOf(ids[0])).id, { timeoutMs: 20_000 });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual(["openai says: hi", "claude says: hello", "gemini says: hey", "wrapped prompt"]);
    const [o, a, g] = llm.received.slice(before);
    expect(llm.received.length - before).toBe(3);
    expect(o?.path).toBe("/v1/chat/completions");
    expect(o?.headers.authorization).toBe("Bearer sk-openai-served");
    expect(JSON.parse(o?.body ?? "")).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(a?.path).toBe("/v1/messages");
    expect(a?.headers["x-api-key"]).toBe("sk-ant-served");
    expect(a?.headers["anthropic-version"]).toBe("2023-06-01");
    expect(JSON.parse(a?.body ?? "")).toEqual({ model: "claude-sonnet-4-5", max_tokens: 32, messages: [{ role: "user", content: "hello" }] });
    // the official gemini() helper puts the key in the URL itself; it reaches the provider, never the store
    expect(g?.path).toBe("/v1beta/models/gemini-2.0-flash:generateContent?key=gm-served-key");
    expect(g?.headers["x-goog-api-key"]).toBe("gm-served-key");
    const byName = Object.fromEntries(run.steps.map((s) => [s.name, s]));
    expect(byName["ask-openai"]).toMatchObject({ op: "AIGateway", status: "Completed", input: { model: "gpt-4o", format: "openai-chat" } });
    expect(byName["ask-gemini"]?.input).toMatchObject({ url: `${llm.url}/v1beta/models/gemini-2.0-flash:generateContent?key=%5Bredacted%5D` });
    expect(byName.wrapped).toMatchObject({ status: "Completed", output: "wrapped prompt", input: { args: ["prompt"] } });
    const shown = await restRun(run.id);
    for (const secret of ["sk-openai-served", "sk-ant-served", "gm-served-key"]) expect(shown).not.toContain(secret);
    expect(shown).toContain("prompt_tokens");
  }, 30_000);
});

describe("--gateway-timeout / STEPWISE_GATEWAY_TIMEOUT_MS", () => {
  it("sets the served timeout, and a bad value is refused naming the flag", async () => {
    await expect(runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery", "--gateway-timeout", "soon"])).rejects.toThrow(CLIError);
    await expect(runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery"], { STEPWISE_GATEWAY_TIMEOUT_MS: "0" })).rejects.toThrow(
      /--gateway-timeout/,
    );
    for (const [args, env, ms] of [
      [["--gateway-timeout", "120"], {}, 120],
      [[], { STEPWISE_GATEWAY_TIMEOUT_MS: "90" }, 90],
    ] as const) {
      const other = (await runCli(["dev", "--port", "0", "--db", ":memory:", "--no-discovery", ...args], { ...env })) as RunningServer;
      try {
        expect((await other.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`)).error).toBeUndefined();
        const { ids } = await other.engine.send({ name: "ogw/slow" });
        let runs = await other.engine.listRuns({ eventId: ids[0] as string });
        for (let i = 0; i < 200 && runs.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
          runs = await other.engine.listRuns({ eventId: ids[0] as string });
        }
        const run = await other.engine.waitForRun(runs[0]?.id as string, { timeoutMs: 10_000 });
        expect(run.error?.message).toContain(`did not answer within ${ms} ms`);
      } finally {
        await other.close();
      }
    }
  }, 30_000);
});
