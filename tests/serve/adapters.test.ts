/**
 * One suite for every framework adapter, each behind a real server listening on
 * 127.0.0.1 (random port): introspection, a call that runs a step (206 StepRun), the
 * final call (200), and in cloud mode a signed call accepted with a signed answer and a
 * badly signed one refused (401).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve as honoNodeServe } from "@hono/node-server";
import { hashStepId, signBody, silentLogger } from "@stepwise/protocol";
import canonicalizeModule from "canonicalize";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { Stepwise } from "stepwise";
import { serve as expressServe } from "stepwise/express";
import { fastifyPlugin } from "stepwise/fastify";
import { serve as fetchServe } from "stepwise/fetch";
import { serve as honoServe } from "stepwise/hono";
import { serve as nextServe } from "stepwise/next";
import { serve as nodeServe } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string;
const signingKey = "signkey-test-8e8b5b1c2f3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
const path = "/api/inngest";

function app(mode: "dev" | "cloud") {
  const client = new Stepwise({ id: "adapters", logger: silentLogger, isDev: mode === "dev", ...(mode === "cloud" ? { signingKey } : {}) });
  const seq = client.createFunction({ id: "seq", triggers: [{ event: "app/seq" }] }, async ({ step }) => {
    const a = await step.run("first-step", () => "A");
    return { result: `${a}B` };
  });
  return { client, functions: [seq] };
}

type Options = ReturnType<typeof app>;
interface Running {
  url: string;
  close(): Promise<void>;
}

function listenNode(server: Server): Promise<Running> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}${path}`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

function listenFetch(fetchHandler: (request: Request) => Promise<Response> | Response): Promise<Running> {
  return new Promise((resolve) => {
    const server = honoNodeServe({ fetch: fetchHandler, port: 0, hostname: "127.0.0.1" }, (info) => {
      resolve({ url: `http://127.0.0.1:${info.port}${path}`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

const adapters: Record<string, (options: Options) => Promise<Running>> = {
  node: (options) => listenNode(createServer(nodeServe(options))),
  express: (options) => {
    const server = express();
    server.use(express.json());
    server.use(path, expressServe(options));
    return listenNode(createServer(server));
  },
  fastify: async (options) => {
    const server = Fastify();
    await server.register(fastifyPlugin, { ...options, path });
    await server.listen({ port: 0, host: "127.0.0.1" });
    const { port } = server.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}${path}`, close: () => server.close() };
  },
  hono: (options) => {
    const server = new Hono();
    server.on(["GET", "PUT", "POST"], path, honoServe(options));
    return listenFetch(server.fetch);
  },
  next: (options) => {
    const routes = nextServe(options);
    return listenFetch((request) => routes[request.method as "GET" | "POST" | "PUT"](request));
  },
  fetch: (options) => listenFetch(fetchServe(options)),
};

const event = { name: "app/seq", data: {}, id: "01JEVT00000000000000000001", ts: 1735689600000, user: {} };
function callBody(steps: Record<string, unknown> = {}) {
  return {
    event,
    events: [event],
    steps,
    ctx: { run_id: "01JRUN0000000000000000000A", attempt: 0, disable_immediate_execution: false, use_api: false, max_attempts: 4 },
  };
}
const firstStep = hashStepId("first-step");

describe.each(Object.keys(adapters))("serve() adapter: %s", (name) => {
  let dev: Running;
  let cloud: Running;
  beforeAll(async () => {
    dev = await (adapters[name] as (o: Options) => Promise<Running>)(app("dev"));
    cloud = await (adapters[name] as (o: Options) => Promise<Running>)(app("cloud"));
  });
  afterAll(async () => {
    await dev?.close();
    await cloud?.close();
  });

  it("answers introspection (GET) in dev mode", async () => {
    const response = await fetch(dev.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-inngest-sdk")).toMatch(/^stepwise:v/);
    expect(response.headers.get("x-inngest-req-version")).toBe("2");
    expect(await response.json()).toEqual({
      extra: { native_crypto: true },
      has_event_key: false,
      has_signing_key: false,
      function_count: 1,
      mode: "dev",
      schema_version: "2024-05-24",
    });
  });

  it("runs a new step in the call and reports it (206 StepRun), then returns (200)", async () => {
    const first = await fetch(`${dev.url}?fnId=adapters-seq&stepId=step`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(callBody()),
    });
    expect(first.status).toBe(206);
    expect(first.headers.get("x-inngest-sdk-handled")).toBe("true");
    const ops = await first.json();
    expect(ops).toMatchObject([{ id: firstStep, op: "StepRun", name: "first-step", displayName: "first-step", data: "A", userland: { id: "first-step" } }]);
    const last = await fetch(`${dev.url}?fnId=adapters-seq&stepId=step`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(callBody({ [firstStep]: { data: "A" } })),
    });
    expect(last.status).toBe(200);
    expect(await last.json()).toEqual({ result: "AB" });
  });

  it("in cloud mode accepts a signed call and signs its answer", async () => {
    const body = canonicalize(callBody({ [firstStep]: { data: "A" } }));
    const response = await fetch(`${cloud.url}?fnId=adapters-seq&stepId=step`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-inngest-signature": signBody(body, signingKey) },
      body,
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ result: "AB" });
    const signature = response.headers.get("x-inngest-signature") ?? "";
    const t = Number(new URLSearchParams(signature).get("t"));
    expect(signature).toBe(signBody(text, signingKey, t));
  });

  it("in cloud mode refuses a bad signature (401) and an unsigned GET", async () => {
    const body = canonicalize(callBody());
    const forged = signBody(body, "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    const response = await fetch(`${cloud.url}?fnId=adapters-seq&stepId=step`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-inngest-signature": forged },
      body,
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ message: "Unauthorized" });
    expect((await fetch(cloud.url)).status).toBe(401);
  });
});
