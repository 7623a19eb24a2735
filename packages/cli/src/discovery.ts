/**
 * @module discovery
 * Finds apps on common local URLs without spamming their logs: a URL is only asked to sync
 * (one `PUT`) once its port accepts a TCP connection; a failed sync backs off (5 s, 10 s,
 * … up to 5 minutes) before it is tried again; a synced URL is left alone.
 */
import { connect } from "node:net";
import type { AppRegistry } from "@stepwise/server";

export const defaultDiscoveryUrls = [
  "http://localhost:3000/api/inngest",
  "http://localhost:3000/x/inngest",
  "http://localhost:3000/.netlify/functions/inngest",
  "http://localhost:3001/api/inngest",
  "http://localhost:5000/api/inngest",
  "http://localhost:8000/api/inngest",
  "http://localhost:8080/api/inngest",
];

const firstBackoffMs = 5_000;
const maxBackoffMs = 5 * 60_000;
const scanEveryMs = 5_000;

function portOpen(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || (u.protocol === "https:" ? 443 : 80)) });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export function startDiscovery(apps: AppRegistry, urls: readonly string[], log: (line: string) => void): () => void {
  const state = new Map(urls.map((url) => [url, { synced: false, nextTryAt: 0, backoffMs: firstBackoffMs }]));
  let stopped = false;
  const scan = async () => {
    for (const [url, s] of state) {
      if (stopped || s.synced || Date.now() < s.nextTryAt) continue;
      if (!(await portOpen(url))) continue;
      const record = await apps.sync(url);
      if (record.error) {
        s.nextTryAt = Date.now() + s.backoffMs;
        s.backoffMs = Math.min(maxBackoffMs, s.backoffMs * 2);
      } else {
        s.synced = true;
        log(`discovered and synced ${url} (${record.functionIds.length} functions)`);
      }
    }
  };
  const timer = setInterval(() => void scan(), scanEveryMs);
  timer.unref();
  void scan();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
