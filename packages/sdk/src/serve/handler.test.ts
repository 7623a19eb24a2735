/**
 * The neutral handler called directly: modes and signatures, sync (in band and out of
 * band against a fake server), `use_api`, probes and unknown methods.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hashStepId, signBody, silentLogger } from "@stepwise/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Stepwise } from "../client.ts";
import { createServeHandler, type ServeOptions } from "./handler.ts";
import { canonicalBody } from "./signature.ts";

const signingKey = "signkey-test-8e8b5b1c2f3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
const event = { name: "app/seq", data: {}, id: "e1", ts: 1735689600000, user: {} };
const requests: Array<{ url: string; headers: Record<string, unknown>; body: string }> = [];
let fake: Server;
let base: string;

beforeAll(async () => {
  fake = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    requests.push({ url: req.url ?? "", headers: req.headers, body });
    res.setHeader("content-type", "application/json");
    if (req.url?.endsWith("/batch")) res.end(JSON.stringify([{ ...event, data: { big: true } }]));
    else if (req.url?.endsWith("/actions")) res.end(JSON.stringify({ [hashStepId("first-step")]: { data: "from-api" } }));
    else if (req.url?.startsWith("/fn/register")) res.end(JSON.stringify({ ok: true, modified: true }));
    else {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: "no such thing", status: 404 }));
    }
  });
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

function handler(options: Partial<ServeOptions> = {}) {
  const client = new Stepwise({ id: "app", logger: silentLogger, baseUrl: base });
  const seq = client.createFunction({ id: "seq", triggers: [{ event: "app/seq" }], onFailure: () => "handled" }, async ({ event, step }) => {
    const a = await step.run("first-step", () => "A");
    return { a, big: event.data.big ?? false };
  });
  return createServeHandler({ client, functions: [seq], env: {}, ...options });
}
const call = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  url: "http://app.local/api/inngest?fnId=app-seq&stepId=step",
  headers,
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("createServeHandler", () => {
  it("refuses to run in cloud mode without a signing key", async () => {
    const response = await handler({ isDev: false }).handle({ method: "GET", url: "http://app.local/api/inngest", headers: {}, body: "" });
    expect(response).toMatchObject({ status: 500, body: JSON.stringify({ code: "internal_server_error" }) });
  });

  it("verifies the canonical JSON of the body, not its bytes, and accepts the fallback key", async () => {
    const fallback = "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const h = handler({ isDev: false, signingKey, signingKeyFallback: fallback });
    const pretty = JSON.stringify({ event, events: [event], steps: {}, ctx: { run_id: "r1" } }, null, 2);
    expect((await h.handle(call(pretty, { "x-inngest-signature": signBody(pretty, signingKey) }))).status).toBe(401);
    const canonical = canonicalBody(pretty);
    expect((await h.handle(call(pretty, { "x-inngest-signature": signBody(canonical, signingKey) }))).status).toBe(206);
    expect((await h.handle(call(pretty, { "x-inngest-signature": signBody(canonical, fallback) }))).status).toBe(206);
    const stale = signBody(canonical, signingKey, Math.floor(Date.now() / 1000) - 301);
    expect((await h.handle(call(pretty, { "x-inngest-signature": stale }))).status).toBe(401);
  });

  it("answers the authenticated introspection shape to a signed GET in cloud mode", async () => {
    const h = handler({ isDev: false, signingKey, eventKey: "test-event-key" });
    const response = await h.handle({
      method: "GET",
      url: "http://app.local/api/inngest",
      headers: { "x-inngest-signature": signBody("", signingKey) },
      body: "",
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      authentication_succeeded: true,
      mode: "cloud",
      app_id: "app",
      function_count: 2,
      has_event_key: true,
      signing_key_hash: "91aa00eb94e4",
      signing_key_fallback_hash: null,
      api_origin: base,
    });
  });

  it("syncs out of band: posts the functions to /fn/register with deployId and the hashed key", async () => {
    requests.length = 0;
    const h = handler({ isDev: false, signingKey });
    const response = await h.handle({
      method: "PUT",
      url: "http://app.local/api/inngest?deployId=d1",
      headers: { "x-inngest-server-kind": "cloud" },
      body: "",
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ message: "Successfully registered", modified: true });
    const [register] = requests;
    expect(register?.url).toBe("/fn/register?deployId=d1");
    expect(register?.headers.authorization).toBe("Bearer signkey-test-91aa00eb94e4fc3284565130d68173d705a690e9ddb7931eca9a888d82e4a1f2");
    expect(register?.headers["x-inngest-expected-server-kind"]).toBe("cloud");
    const payload = JSON.parse(register?.body ?? "{}");
    expect(payload).toMatchObject({ url: "http://app.local/api/inngest?deployId=d1", appName: "app", deployType: "ping", v: "0.1", deployId: "d1" });
    expect(payload.functions.map((f: { id: string }) => f.id)).toEqual(["app-seq", "app-seq-failure"]);
    expect(payload.functions[0].steps.step.runtime.url).toBe("http://app.local/api/inngest?deployId=d1&fnId=app-seq&stepId=step");
  });

  it("reports a failed register with the server's message", async () => {
    const h = handler({ isDev: true, baseUrl: "http://127.0.0.1:1" });
    const response = await h.handle({ method: "PUT", url: "http://app.local/api/inngest", headers: {}, body: "" });
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body).message).toMatch(/^Failed to register; POST http:\/\/127\.0\.0\.1:1\/fn\/register failed/);
  });

  it("syncs in band: needs a signature in cloud mode, returns the config with the given url", async () => {
    const h = handler({ isDev: false, signingKey, serveHost: "https://ignored.example" });
    const body = JSON.stringify({ url: "https://public.example/api/inngest" });
    const unsigned = await h.handle({ method: "PUT", url: "http://app.local/api/inngest", headers: { "x-inngest-sync-kind": "in_band" }, body });
    expect(unsigned.status).toBe(401);
    const signed = await h.handle({
      method: "PUT",
      url: "http://app.local/api/inngest",
      headers: { "x-inngest-sync-kind": "in_band", "x-inngest-signature": signBody(body, signingKey) },
      body,
    });
    expect(signed.status).toBe(200);
    expect(signed.headers["x-inngest-sync-kind"]).toBe("in_band");
    expect(signed.headers["x-inngest-signature"]).toBeDefined();
    const config = JSON.parse(signed.body);
    expect(config).toMatchObject({
      app_id: "app",
      url: "https://public.example/api/inngest",
      sdk_language: "js",
      inspection: { authentication_succeeded: true },
    });
    expect(config.functions[0].steps.step.runtime.url).toBe("https://public.example/api/inngest?fnId=app-seq&stepId=step");
    const extra = JSON.stringify({ url: "https://x.example", more: 1 });
    const bad = await h.handle({
      method: "PUT",
      url: "http://app.local/api/inngest",
      headers: { "x-inngest-sync-kind": "in_band", "x-inngest-signature": signBody(canonicalBody(extra), signingKey) },
      body: extra,
    });
    expect(bad.status).toBe(400);
  });

  it("fetches events and memo from the API when use_api is set, keeping the body's event", async () => {
    const h = handler({ isDev: true });
    const response = await h.handle(call({ event: { ...event, data: { big: "body" } }, events: [], steps: {}, ctx: { run_id: "r-api", use_api: true } }));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ a: "from-api", big: "body" });
    const failing = await handler({ isDev: true, baseUrl: `${base}/nowhere/` }).handle(
      call({ event, events: [], steps: {}, ctx: { run_id: "r-api", use_api: true } }),
    );
    expect(failing.status).toBe(200); // the API path is absolute: a path on the base is dropped
    const broken = createServeHandler({
      client: new Stepwise({ id: "app", logger: silentLogger, baseUrl: "http://127.0.0.1:1" }),
      functions: [new Stepwise({ id: "app" }).createFunction({ id: "seq", triggers: [{ event: "app/seq" }] }, () => 1)],
      isDev: true,
      env: {},
    });
    const refused = await broken.handle(call({ event, events: [], steps: {}, ctx: { run_id: "r-api", use_api: true } }));
    expect(refused.status).toBe(500);
    expect(JSON.parse(refused.body)).toMatchObject({ type: "internal", message: expect.stringMatching(/^Failed to retrieve list of events for run r-api/) });
  });

  it("answers the trust probe, refuses other probes and other methods", async () => {
    const h = handler({ isDev: true });
    expect(await h.handle({ method: "POST", url: "http://app.local/api/inngest?probe=trust", headers: {}, body: "{}" })).toMatchObject({
      status: 200,
      body: "",
    });
    expect((await h.handle({ method: "POST", url: "http://app.local/api/inngest?probe=other", headers: {}, body: "{}" })).status).toBe(400);
    expect(await h.handle({ method: "DELETE", url: "http://app.local/api/inngest", headers: {}, body: "" })).toMatchObject({ status: 405 });
  });

  it("rejects duplicate function ids when created", () => {
    const client = new Stepwise({ id: "app" });
    const a = client.createFunction({ id: "same" }, () => 1);
    expect(() => createServeHandler({ client, functions: [a, a] })).toThrow(/function id "app-same" is served twice/);
  });
});
