/**
 * `client.send` over HTTP against a fake event API: the request the official SDK makes,
 * retries on 5xx and on replies without `status`, no retry on 4xx, and errors that name
 * the client and the URL.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Stepwise } from "../client.ts";
import { resolveConnection } from "./env.ts";

let server: Server;
let base: string;
let replies: Array<{ status: number; body: string }>;
const received: Array<{ url: string; headers: Record<string, unknown>; body: unknown }> = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    received.push({ url: req.url ?? "", headers: req.headers, body: JSON.parse(body) });
    const reply = replies.shift() ?? { status: 200, body: JSON.stringify({ ids: ["id-1", "id-2"], status: 200 }) };
    res.writeHead(reply.status, { "content-type": "application/json" }).end(reply.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  replies = [];
  received.length = 0;
});

describe("client.send over HTTP", () => {
  it("posts an array to /e/NO_EVENT_KEY_SET in dev mode, filling data and ts", async () => {
    const client = new Stepwise({ id: "shop", isDev: true, baseUrl: base });
    await expect(
      client.send([
        { name: "app/a", data: { x: 1 } },
        { name: "app/b", id: "k1", ts: 1735689600000 },
      ]),
    ).resolves.toEqual({ ids: ["id-1", "id-2"] });
    const [request] = received;
    expect(request?.url).toBe("/e/NO_EVENT_KEY_SET");
    expect(request?.headers["x-inngest-event-id-seed"]).toMatch(/^\d+,[A-Za-z0-9+/]+=*$/);
    expect(request?.body).toEqual([
      { name: "app/a", data: { x: 1 }, ts: expect.any(Number) },
      { name: "app/b", id: "k1", ts: 1735689600000, data: {} },
    ]);
  });

  it("uses the event key in cloud mode and retries 5xx and replies without status", async () => {
    replies = [
      { status: 503, body: "{}" },
      { status: 200, body: JSON.stringify({ ids: ["x"] }) },
    ];
    const client = new Stepwise({ id: "shop", isDev: false, baseUrl: base, eventKey: "key-1" });
    await expect(client.send({ name: "app/a" })).resolves.toEqual({ ids: ["id-1", "id-2"] });
    expect(received.map((r) => r.url)).toEqual(["/e/key-1", "/e/key-1", "/e/key-1"]);
  });

  it("fails at once on a 4xx, with the server's reason", async () => {
    replies = [{ status: 400, body: JSON.stringify({ status: 400, error: "event name is empty" }) }];
    const client = new Stepwise({ id: "shop", isDev: true, baseUrl: base });
    await expect(client.send({ name: "app/a" })).rejects.toThrow(
      `client "shop": sending 1 event to ${base}/e/NO_EVENT_KEY_SET failed: 400 event name is empty`,
    );
    expect(received).toHaveLength(1);
  });

  it("names the URL when the server cannot be reached, after retrying", async () => {
    const client = new Stepwise({ id: "shop", isDev: true, baseUrl: "http://127.0.0.1:1" });
    await expect(client.send({ name: "app/a" })).rejects.toThrow(
      /sending 1 event to http:\/\/127\.0\.0\.1:1\/e\/NO_EVENT_KEY_SET failed: .*\(after 5 attempts\)/,
    );
  });

  it("validates events before sending anything", async () => {
    const client = new Stepwise({ id: "shop", isDev: true, baseUrl: base });
    await expect(client.send([{ name: "app/a" }, { name: "" }])).rejects.toThrow(/events\[1\]: "name" is required/);
    expect(received).toHaveLength(0);
  });
});

describe("resolveConnection", () => {
  it("reads INNGEST_DEV as a flag or a URL, and the base URL variables in order", () => {
    expect(resolveConnection({}, {})).toMatchObject({ mode: "cloud", apiBaseUrl: "https://api.inngest.com/", eventBaseUrl: "https://inn.gs/" });
    expect(resolveConnection({}, { INNGEST_DEV: "1" })).toMatchObject({ mode: "dev", apiBaseUrl: "http://localhost:8288/" });
    expect(resolveConnection({}, { INNGEST_DEV: "127.0.0.1:9999" })).toMatchObject({
      mode: "dev",
      apiBaseUrl: "http://127.0.0.1:9999/",
      eventBaseUrl: "http://127.0.0.1:9999/",
    });
    expect(
      resolveConnection(
        {},
        { INNGEST_DEV: "true", INNGEST_BASE_URL: "http://h:7000", INNGEST_API_BASE_URL: "http://h:7001", INNGEST_EVENT_API_BASE_URL: "http://h:7002" },
      ),
    ).toMatchObject({ apiBaseUrl: "http://h:7001", eventBaseUrl: "http://h:7002" });
    expect(resolveConnection({ isDev: false, baseUrl: "http://o" }, { INNGEST_DEV: "1", INNGEST_BASE_URL: "http://h" })).toMatchObject({
      mode: "cloud",
      apiBaseUrl: "http://o",
    });
    expect(resolveConnection({}, { INNGEST_SIGNING_KEY: "signkey-a-00", INNGEST_EVENT_KEY: "ek" })).toMatchObject({
      signingKey: "signkey-a-00",
      eventKey: "ek",
    });
  });
});
