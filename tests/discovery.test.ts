/**
 * Auto-discovery: a URL is synced once its port accepts connections; a closed port gets
 * no request at all, and a failing app is not asked again until its back-off has passed.
 */
import { createServer, type Server } from "node:http";
import { startDiscovery } from "@stepwise/cli";
import { createEngine } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { AppRegistry } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterEach, describe, expect, it } from "vitest";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/api/inngest`;
}

describe("discovery", () => {
  it("syncs a live app once, skips a closed port, and records a failing app's error after one request", async () => {
    const store = new SqliteStore({ filename: ":memory:" });
    await store.migrate();
    const engine = createEngine({ store, logger: silentLogger });
    const apps = new AppRegistry({ engine, logger: silentLogger, serverKind: "dev", callTimeoutMs: 5_000 });
    const inngest = new Inngest({ id: "found", isDev: true, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fn = inngest.createFunction({ id: "fn", triggers: [{ event: "x" }] }, async () => 1);
    const official = serve({ client: inngest, functions: [fn] });
    let liveRequests = 0;
    const live = await listen((req, res) => {
      liveRequests++;
      official(req, res);
    });
    let failingRequests = 0;
    const failing = await listen((_req, res) => {
      failingRequests++;
      res.writeHead(500).end("broken");
    });
    const closed = await listen(() => {});
    await new Promise<void>((r) => servers.pop()?.close(() => r()));

    const lines: string[] = [];
    const stop = startDiscovery(apps, [live, failing, closed], (line) => lines.push(line));
    const deadline = Date.now() + 5_000;
    while (!lines.some((l) => l.includes(live)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    stop();
    expect(lines).toEqual([`discovered and synced ${live} (1 functions)`]);
    expect(liveRequests).toBe(1);
    expect(failingRequests).toBe(1);
    expect(apps.list().find((a) => a.url === failing)?.error).toMatch(/answered 500/);
    expect(engine.functions().map((f) => f.config.id)).toEqual(["found-fn"]);
    await engine.close();
  });
});
