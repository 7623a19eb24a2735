/**
 * @module discovery
 * Finds apps on common local URLs without spamming their logs: a URL is only asked to sync
 * (one `PUT`) once its port accepts a TCP connection; a failed sync backs off (5 s, 10 s,
 * … up to 5 minutes) before it is tried again; a synced URL is left alone.
 *
 * The URLs given with `-u` are different: the user named them, so each is synced until it
 * answers (1 s, 2 s, … up to 30 s apart), and one that stops accepting connections is
 * synced again once it is back. One log line per change of state, not one per attempt.
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

const retryFirstMs = 1_000;
const retryMaxMs = 30_000;
const aliveCheckMs = 5_000;

export interface AppSyncing {
  /** Settles once every URL has been tried once. */
  ready: Promise<void>;
  stop(): void;
}

export function startSyncing(apps: AppRegistry, urls: readonly string[], log: (line: string) => void, warn: (line: string) => void): AppSyncing {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => Promise<void>) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) void fn();
    }, ms);
    timer.unref();
    timers.add(timer);
  };
  const track = (url: string) => {
    let state: "new" | "synced" | "failing" | "gone" = "new";
    let backoffMs = retryFirstMs;
    const attempt = async (): Promise<void> => {
      const record = await apps.sync(url);
      if (stopped) return;
      if (record.error) {
        if (state === "new" || state === "synced") warn(`could not sync ${url}: ${record.error} (retrying until it answers)`);
        if (state !== "gone") state = "failing";
        later(backoffMs, attempt);
        backoffMs = Math.min(retryMaxMs, backoffMs * 2);
        return;
      }
      state = "synced";
      backoffMs = retryFirstMs;
      log(`synced ${url} (${record.functionIds.length} functions)`);
      later(aliveCheckMs, alive);
    };
    const alive = async (): Promise<void> => {
      if (await portOpen(url)) {
        if (!stopped) later(aliveCheckMs, alive);
        return;
      }
      if (stopped) return;
      state = "gone";
      warn(`${url} stopped accepting connections; it will be synced again when it is back`);
      later(backoffMs, attempt);
    };
    return attempt();
  };
  const ready = Promise.all(urls.map(track)).then(() => {});
  return {
    ready,
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
