/**
 * step.fetch and step.ai.infer from Stepwise's own SDK served with `serve()` (node adapter)
 * and run by a Stepwise dev server: the same function code as in-process, the requests
 * made by the server.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { fetch as durableFetch, openai, Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, fakeLlm, fakeTarget } from "./fake-servers.ts";

let stepwise: RunningServer;
let app: Server;
let client: Stepwise;
let llm: FakeServer;
let target: FakeServer;
let later = 0;

beforeAll(async () => {
  llm = await fakeLlm();
  target = await fakeTarget();
  stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
  client = new Stepwise({ id: "sgw", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
  const fn = client.createFunction({ id: "both", retries: 2 }, { event: "sgw/go" }, async ({ step }) => {
    const res = await durableFetch(`${target.url}/hello`);
    const ai = await step.ai.infer<{ choices: { message: { content: string } }[] }>("ask", {
      model: openai({ model: "gpt-4o", apiKey: "sk-served-own", baseUrl: `${llm.url}/v1` }),
      body: { messages: [{ role: "user", content: "served" }] },
    });
    await step.run("later", () => {
      if (++later < 2) throw new Error("later fails once");
    });
    return [res.status, await res.text(), ai.choices[0]?.message.content];
  });
  app = createServer(serve({ client, functions: [fn] }));
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

describe("Stepwise SDK served: step.fetch and step.ai.infer", () => {
  it("has the server make each request once and memoize it", async () => {
    const { ids } = await client.send({ name: "sgw/go" });
    let runs = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    for (let i = 0; i < 200 && runs.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      runs = await stepwise.engine.listRuns({ eventId: ids[0] as string });
    }
    const run = await stepwise.engine.waitForRun(runs[0]?.id as string, { timeoutMs: 15_000 });
    expect(run.error).toBeUndefined();
    expect(run.output).toEqual([201, "created", "openai says: served"]);
    expect(later).toBe(2);
    expect([target.hits("/hello"), llm.received.length]).toEqual([1, 1]);
    expect(llm.received[0]?.headers.authorization).toBe("Bearer sk-served-own");
    expect(JSON.stringify(run)).not.toContain("sk-served-own");
    expect(run.steps.map((s) => [s.name, s.op])).toEqual([
      ["step.fetch: 127.0.0.1", "Gateway"],
      ["ask", "AIGateway"],
      ["later", "StepRun"],
    ]);
  }, 30_000);
});
