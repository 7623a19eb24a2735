/**
 * step.fetch, step.ai.infer and step.ai.wrap with this SDK, in-process, on a real store
 * (SQLite file, or Postgres with STEPWISE_TEST_STORE=postgres): the engine makes the
 * requests between calls, memoizes them, retries failures per the function's policy, and
 * never stores credentials.
 */

import { Engine } from "@stepwise/engine";
import { SqliteStore } from "@stepwise/store-sqlite";
import { anthropic, fetch as durableFetch, gemini, openai, Stepwise, silentLogger } from "stepwise";
import { afterEach, describe, expect, it } from "vitest";
import { sendAndWait, startEngine } from "../helpers.ts";
import { type FakeServer, fakeLlm, fakeTarget } from "./fake-servers.ts";

const servers: FakeServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()?.close();
});
async function target(options?: Parameters<typeof fakeTarget>[0]) {
  const s = await fakeTarget(options);
  servers.push(s);
  return s;
}
async function llm() {
  const s = await fakeLlm();
  servers.push(s);
  return s;
}
const client = () => new Stepwise({ id: "gw", logger: silentLogger });

describe("step.fetch in-process", () => {
  it("makes the request once: later failing and retried steps replay its memo", async () => {
    const t = await target();
    const c = client();
    let later = 0;
    const fn = c.createFunction({ id: "memo", retries: 3 }, { event: "gw/memo" }, async ({ step }) => {
      const res = await step.fetch(`${t.url}/hello?x=1`);
      const body = await res.text();
      await step.run("later", () => {
        if (++later < 3) throw new Error(`later fails ${later}`);
      });
      return { status: res.status, ok: res.ok, body, servedBy: res.headers.get("x-served-by") };
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/memo" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual({ status: 201, ok: true, body: "created", servedBy: "fake" });
    expect(later).toBe(3);
    expect(t.hits("/hello")).toBe(1);
    const fetched = run.steps.find((s) => s.name === "step.fetch: 127.0.0.1");
    expect(fetched).toMatchObject({ op: "Gateway", status: "Completed", attempts: 1 });
    expect(fetched?.output).toMatchObject({ status_code: 201, body: "created", headers: { "content-type": "text/plain" } });
    expect(fetched?.input).toMatchObject({ url: `${t.url}/hello?x=1`, method: "GET" });
  });

  it("sends method, headers and body; stores credential headers redacted", async () => {
    const t = await target();
    const c = client();
    const fn = c.createFunction({ id: "post" }, { event: "gw/post" }, async ({ step }) => {
      const res = await step.fetch(`${t.url}/echo`, {
        method: "POST",
        headers: { authorization: "Bearer top-secret-token", "x-trace": "abc", "content-type": "application/json" },
        body: JSON.stringify({ a: 1 }),
      });
      return res.json();
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/post" });
    expect(run.status).toBe("Completed");
    const echoed = run.output as { method: string; headers: Record<string, string>; body: string };
    expect(echoed.method).toBe("POST");
    expect(echoed.headers.authorization).toBe("Bearer top-secret-token");
    expect(echoed.headers["x-trace"]).toBe("abc");
    expect(echoed.body).toBe('{"a":1}');
    const step = run.steps.find((s) => s.op === "Gateway");
    expect(step?.input).toEqual({
      url: `${t.url}/echo`,
      method: "POST",
      headers: { authorization: "[redacted]", "x-trace": "abc", "content-type": "application/json" },
      body: '{"a":1}',
    });
  });

  it("returns failure statuses as responses, without retrying", async () => {
    const t = await target();
    const c = client();
    const fn = c.createFunction({ id: "status", retries: 2 }, { event: "gw/status" }, async ({ step }) => {
      const res = await step.fetch(`${t.url}/status/503`);
      return { status: res.status, ok: res.ok, text: await res.text() };
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/status" });
    expect(run.output).toEqual({ status: 503, ok: false, text: "status 503" });
    expect(t.hits("/status/503")).toBe(1);
  });

  it("retries a dropped connection per the function's retries", async () => {
    const t = await target({ flakyDrops: 2 });
    const c = client();
    const fn = c.createFunction({ id: "flaky", retries: 3 }, { event: "gw/flaky" }, async ({ step }) => (await step.fetch(`${t.url}/flaky`)).text());
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/flaky" });
    expect(run.status).toBe("Completed");
    expect(run.output).toBe("steady now");
    expect(t.hits("/flaky")).toBe(3);
    expect(run.steps.find((s) => s.op === "Gateway")).toMatchObject({ status: "Completed", attempts: 3 });
  });

  it("fails the step on a timeout once retries are spent", async () => {
    const t = await target();
    const c = client();
    const fn = c.createFunction({ id: "slow", retries: 1 }, { event: "gw/slow" }, async ({ step }) => {
      try {
        await step.fetch(`${t.url}/slow`);
        return "answered";
      } catch (error) {
        return `caught ${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn], gateway: { timeoutMs: 150 } });
    const started = Date.now();
    const run = await sendAndWait(engine, c, { name: "gw/slow" });
    expect(Date.now() - started).toBeLessThan(1_900);
    expect(run.output).toMatch(/^caught StepError: .*did not answer within 150 ms/);
    expect(t.hits("/slow")).toBe(2);
    expect(run.steps.find((s) => s.op === "Gateway")).toMatchObject({ status: "Failed", attempts: 2, error: { name: "GatewayTimeoutError" } });
  });

  it("runs parallel fetches beside a parallel step.run, each once", async () => {
    const t = await target();
    const c = client();
    let ran = 0;
    const fn = c.createFunction({ id: "par" }, { event: "gw/par" }, async ({ step }) => {
      const [a, b, r] = await Promise.all([step.fetch(`${t.url}/status/201`), step.fetch(`${t.url}/status/202`), step.run("work", () => ++ran)]);
      return [a.status, b.status, r];
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/par" });
    expect(run.output).toEqual([201, 202, 1]);
    expect([t.hits("/status/201"), t.hits("/status/202"), ran]).toEqual([1, 1, 1]);
    expect(run.steps.map((s) => s.name).sort()).toEqual(["step.fetch: 127.0.0.1", "step.fetch: 127.0.0.1:1", "work"]);
  });

  it("the exported fetch is step.fetch in a handler, and a plain fetch outside a run and inside step.run", async () => {
    const t = await target();
    const c = client();
    const fn = c.createFunction({ id: "shim" }, { event: "gw/shim" }, async ({ step }) => {
      const first = await durableFetch(`${t.url}/hello`);
      const inner = await step.run("inner", async () => (await durableFetch(`${t.url}/status/202`)).status);
      await step.sleep("replay", "10ms");
      return { first: first.status, inner };
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const outside = await durableFetch(`${t.url}/status/204`);
    expect(outside.status).toBe(204);
    const run = await sendAndWait(engine, c, { name: "gw/shim" });
    expect(run.output).toEqual({ first: 201, inner: 202 });
    expect(t.hits("/hello")).toBe(1);
    expect(t.hits("/status/202")).toBe(1);
    expect(run.steps.map((s) => [s.name, s.op])).toEqual([
      ["step.fetch: 127.0.0.1", "Gateway"],
      ["inner", "StepRun"],
      ["replay", "Sleep"],
    ]);
  });
});

describe("EngineOptions.gateway", () => {
  it("refuses a bad timeout or fetch, naming the field", async () => {
    const store = new SqliteStore({ filename: ":memory:" });
    try {
      expect(() => new Engine({ store, gateway: { timeoutMs: 0 } })).toThrow(/gateway\.timeoutMs/);
      expect(() => new Engine({ store, gateway: { timeoutMs: "5s" as unknown as number } })).toThrow(/gateway\.timeoutMs/);
      expect(() => new Engine({ store, gateway: { fetch: "no" as unknown as typeof fetch } })).toThrow(/gateway\.fetch/);
    } finally {
      await store.close();
    }
  });

  it("makes the requests with the fetch given", async () => {
    const c = client();
    const seen: string[] = [];
    const fake: typeof fetch = async (input, init) => {
      seen.push(`${init?.method} ${String(input)}`);
      return new Response("from the fake", { status: 200, headers: { "x-fake": "1" } });
    };
    const fn = c.createFunction({ id: "own-fetch" }, { event: "gw/own" }, async ({ step }) => (await step.fetch("https://example.invalid/x")).text());
    const { engine } = await startEngine({ client: c, functions: [fn], gateway: { fetch: fake } });
    const run = await sendAndWait(engine, c, { name: "gw/own" });
    expect(run.output).toBe("from the fake");
    expect(seen).toEqual(["GET https://example.invalid/x"]);
  });
});

describe("step.ai in-process", () => {
  it("calls OpenAI, Anthropic and Gemini in their shapes, with the key in a header, and memoizes the responses", async () => {
    const l = await llm();
    const c = client();
    let after = 0;
    const fn = c.createFunction({ id: "ai", retries: 2 }, { event: "gw/ai" }, async ({ step }) => {
      const o = await step.ai.infer<{ choices: { message: { content: string } }[] }>("ask-openai", {
        model: openai({ model: "gpt-4o", apiKey: "sk-openai-secret", baseUrl: `${l.url}/v1` }),
        body: { messages: [{ role: "user", content: "hi" }] },
      });
      const a = await step.ai.infer<{ content: { text: string }[] }>("ask-claude", {
        model: anthropic({ model: "claude-sonnet-4-5", apiKey: "sk-ant-secret", baseUrl: `${l.url}/v1`, defaultParameters: { max_tokens: 64 } }),
        body: { messages: [{ role: "user", content: "hello" }] },
      });
      const g = await step.ai.infer<{ candidates: { content: { parts: { text: string }[] } }[] }>("ask-gemini", {
        model: gemini({ model: "gemini-2.0-flash", apiKey: "gm-secret-key", baseUrl: `${l.url}/v1beta` }),
        body: { contents: [{ role: "user", parts: [{ text: "hey" }] }] },
      });
      await step.run("after", () => {
        if (++after < 2) throw new Error("after fails once");
      });
      return [o.choices[0]?.message.content, a.content[0]?.text, g.candidates[0]?.content.parts[0]?.text];
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/ai" });
    expect(run.status).toBe("Completed");
    expect(run.output).toEqual(["openai says: hi", "claude says: hello", "gemini says: hey"]);
    // each provider called once, despite the retried step after them
    expect(l.received.map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/messages", "/v1beta/models/gemini-2.0-flash:generateContent"]);
    const [o, a, g] = l.received as [(typeof l.received)[0], (typeof l.received)[0], (typeof l.received)[0]];
    expect(o.method).toBe("POST");
    expect(o.headers.authorization).toBe("Bearer sk-openai-secret");
    expect(o.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(o.body)).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(a.headers["x-api-key"]).toBe("sk-ant-secret");
    expect(a.headers["anthropic-version"]).toBe("2023-06-01");
    expect(a.headers.authorization).toBeUndefined();
    expect(JSON.parse(a.body)).toEqual({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: "hello" }] });
    expect(g.headers["x-goog-api-key"]).toBe("gm-secret-key");
    expect(g.path).not.toContain("key=");
    expect(JSON.parse(g.body)).toEqual({ contents: [{ role: "user", parts: [{ text: "hey" }] }] });
    // what is stored: the request without its keys, the provider's response as the step output
    const stored = JSON.stringify(await engine.getRun(run.id));
    expect(stored).not.toContain("sk-openai-secret");
    expect(stored).not.toContain("sk-ant-secret");
    expect(stored).not.toContain("gm-secret-key");
    const openaiStep = run.steps.find((s) => s.name === "ask-openai");
    expect(openaiStep).toMatchObject({ op: "AIGateway", status: "Completed" });
    expect(openaiStep?.input).toMatchObject({
      format: "openai-chat",
      model: "gpt-4o",
      auth_key: "[redacted]",
      body: { messages: [{ role: "user", content: "hi" }] },
    });
    expect(openaiStep?.output).toMatchObject({ usage: { prompt_tokens: 11, completion_tokens: 7 } });
    expect(run.steps.find((s) => s.name === "ask-gemini")?.input).toMatchObject({ format: "gemini", model: "gemini-2.0-flash" });
  });

  it("retries a provider's 5xx and fails at once on a 4xx", async () => {
    const l = await llm();
    const c = client();
    const model = openai({ model: "gpt-4o", apiKey: "sk-echoed-key", baseUrl: `${l.url}/v1` });
    const fn = c.createFunction({ id: "ai-fail", retries: 2 }, { event: "gw/ai-fail" }, async ({ event, step }) => {
      try {
        const r = await step.ai.infer<{ model: string }>("ask", { model, body: { messages: [{ role: "user", content: String(event.data.n) }] } });
        return r.model;
      } catch (error) {
        return `caught: ${(error as Error).message}`;
      }
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    l.failNext.push(503);
    const retried = await sendAndWait(engine, c, { name: "gw/ai-fail", data: { n: 1 } });
    expect(retried.output).toBe("gpt-4o");
    expect(retried.steps.find((s) => s.name === "ask")).toMatchObject({ status: "Completed", attempts: 2 });
    expect(l.received).toHaveLength(2);
    l.failNext.push(401);
    const refused = await sendAndWait(engine, c, { name: "gw/ai-fail", data: { n: 2 } });
    expect(refused.output).toMatch(/^caught: .*answered 401: .*fake failure 401/);
    expect(refused.steps.find((s) => s.name === "ask")).toMatchObject({ status: "Failed", attempts: 1, error: { name: "AIGatewayError" } });
    expect(l.received).toHaveLength(3);
    expect(l.received[2]?.headers.authorization).toBe("Bearer sk-echoed-key");
    expect(JSON.stringify(await engine.getRun(refused.id))).not.toContain("sk-echoed-key");
    expect(JSON.stringify(refused.steps)).toContain("fake failure 401 for Bearer [redacted]");
  });

  it("step.ai.wrap runs the function once as a step with its arguments as input", async () => {
    const c = client();
    let calls = 0;
    const fn = c.createFunction({ id: "wrap" }, { event: "gw/wrap" }, async ({ step }) => {
      const out = await step.ai.wrap("generate", async (prompt: string, n: number) => `${prompt} x${n} (${++calls})`, "write", 2);
      await step.sleep("replay", "10ms");
      return out;
    });
    const { engine } = await startEngine({ client: c, functions: [fn] });
    const run = await sendAndWait(engine, c, { name: "gw/wrap" });
    expect(run.output).toBe("write x2 (1)");
    expect(calls).toBe(1);
    expect(run.steps[0]).toMatchObject({ name: "generate", op: "StepRun", status: "Completed", input: { args: ["write", 2] } });
  });
});
