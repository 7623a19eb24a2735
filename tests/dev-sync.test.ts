/**
 * `stepwise dev -u <url>`: an app that starts after the server is still synced (the
 * server keeps retrying), and a corrupt sync reply becomes a sync error on that app
 * instead of crashing the server.
 */
import { createServer, type Server } from "node:http";
import { gzipSync } from "node:zlib";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterEach, describe, expect, it } from "vitest";

const servers: Server[] = [];
const running: RunningServer[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listen(handler: Parameters<typeof createServer>[1], port = 0): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/api/inngest`;
}

async function listApps(r: RunningServer): Promise<{ url: string; functionIds: string[]; error?: string }[]> {
  const res = await fetch(`${r.url}/v1/apps`);
  return ((await res.json()) as { data: { url: string; functionIds: string[]; error?: string }[] }).data;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("dev -u", () => {
  it("syncs an app that starts listening after the server", async () => {
    const port = await freePort();
    const appUrl = `http://127.0.0.1:${port}/api/inngest`;
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
    const r = await runServer({ mode: "dev", port: 0, db: ":memory:", urls: [appUrl], dashboard: false, logRuns: false, logger });
    running.push(r);
    const inngest = new Inngest({ id: "late", isDev: true, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fn = inngest.createFunction({ id: "fn", triggers: [{ event: "x" }] }, async () => 1);
    await new Promise((res) => setTimeout(res, 1_500));
    await listen(serve({ client: inngest, functions: [fn] }), port);
    const synced = await waitFor(async () => {
      const app = (await listApps(r)).find((a) => a.url.startsWith(appUrl));
      return app && !app.error && app.functionIds.length === 1 ? app : undefined;
    }, 8_000);
    expect(synced?.functionIds).toEqual(["late-fn"]);
    // One line per state change, not one per attempt.
    expect(lines.filter((l) => l.includes(appUrl) && /could not sync/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes(appUrl) && /synced/.test(l) && !/could not/.test(l))).toHaveLength(1);
  }, 15_000);

  it("syncs an app again after it went away and came back", async () => {
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const first = new Inngest({ id: "back", isDev: true, logger: quiet });
    const appUrl = await listen(serve({ client: first, functions: [first.createFunction({ id: "one", triggers: [{ event: "x" }] }, async () => 1)] }));
    const port = Number(new URL(appUrl).port);
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
    const r = await runServer({ mode: "dev", port: 0, db: ":memory:", urls: [appUrl], dashboard: false, logRuns: false, logger });
    running.push(r);
    expect((await listApps(r)).find((a) => a.url.startsWith(appUrl))?.functionIds).toEqual(["back-one"]);
    const old = servers.pop() as Server;
    old.closeAllConnections();
    await new Promise<void>((res) => old.close(() => res()));
    expect(await waitFor(async () => (lines.some((l) => l.includes("stopped accepting")) ? true : undefined), 8_000)).toBe(true);
    const second = new Inngest({ id: "back", isDev: true, logger: quiet });
    await listen(serve({ client: second, functions: [second.createFunction({ id: "two", triggers: [{ event: "x" }] }, async () => 2)] }), port);
    const synced = await waitFor(async () => {
      const app = (await listApps(r)).find((a) => a.url.startsWith(appUrl));
      return app && !app.error && app.functionIds[0] === "back-two" ? app : undefined;
    }, 8_000);
    expect(synced?.functionIds).toEqual(["back-two"]);
  }, 25_000);

  it("records a truncated or corrupt gzip sync reply as that app's error and stays up", async () => {
    const gz = gzipSync(Buffer.from(JSON.stringify({ app_id: "x", functions: [], url: "http://x", pad: "p".repeat(500) })));
    const headers = { "content-type": "application/json", "content-encoding": "gzip", "x-inngest-sync-kind": "in_band" };
    // The body stops halfway through the promised content-length.
    const truncated = await listen((_req, res) => {
      res.writeHead(200, { ...headers, "content-length": gz.length });
      res.write(gz.subarray(0, Math.floor(gz.length / 2)));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    // The gzip stream itself is damaged.
    const corrupt = await listen((_req, res) => {
      const bytes = Buffer.from(gz);
      bytes.fill(0xff, 12, 40);
      res.writeHead(200, headers);
      res.end(bytes);
    });
    const r = await runServer({ mode: "dev", port: 0, db: ":memory:", urls: [truncated, corrupt], dashboard: false, logRuns: false, logger: silentLogger });
    running.push(r);
    for (const appUrl of [truncated, corrupt]) {
      const app = await waitFor(async () => (await listApps(r)).find((a) => a.url === appUrl && a.error), 5_000);
      expect(app?.error).toMatch(/could not read/);
    }
    expect((await fetch(`${r.url}/v1/apps`)).status).toBe(200);
  });
});
