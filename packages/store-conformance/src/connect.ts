import type { ConnectConnectionRecord } from "@stepwise/engine";
import { describe, expect, it } from "vitest";
import { type StoreFactory, useStore } from "./fixtures.ts";

export function connectSuite(factory: StoreFactory) {
  describe("Connect connection registry", () => {
    const store = useStore(factory);
    const row = (connectionId: string, appName: string, lastSeenAt: number, extra: Partial<ConnectConnectionRecord> = {}): ConnectConnectionRecord => ({
      connectionId,
      appName,
      nodeId: "node-b",
      nodeUrl: "http://10.0.0.2:8288",
      state: "ready",
      lastSeenAt,
      ...extra,
    });

    it("saves rows per (connection, app), refreshes them in place, lists an app's rows seen recently", async () => {
      await store().saveConnectConnections([row("c2", "shop", 1_000), row("c1", "shop", 1_000), row("c1", "billing", 1_000), row("c3", "shop", 500)]);
      expect(await store().listConnectConnections({ appName: "shop", seenSince: 900 })).toEqual([row("c1", "shop", 1_000), row("c2", "shop", 1_000)]);
      expect(await store().listConnectConnections({ appName: "shop", seenSince: 0 })).toHaveLength(3);
      expect(await store().listConnectConnections({ appName: "nobody", seenSince: 0 })).toEqual([]);
      // a refresh (and WORKER_PAUSE) rewrites the row, never duplicates it
      await store().saveConnectConnections([row("c3", "shop", 2_000, { state: "draining", nodeId: "node-a", nodeUrl: "http://a" })]);
      await store().saveConnectConnections([]);
      expect(await store().listConnectConnections({ appName: "shop", seenSince: 1_500 })).toEqual([
        row("c3", "shop", 2_000, { state: "draining", nodeId: "node-a", nodeUrl: "http://a" }),
      ]);
    });

    it("deletes one connection's rows, and rows of dead nodes by age", async () => {
      await store().saveConnectConnections([row("c1", "shop", 1_000), row("c1", "billing", 1_000), row("c2", "shop", 3_000), row("c3", "shop", 5_000)]);
      expect(await store().deleteConnectConnections({ connectionId: "c1" })).toBe(2);
      expect(await store().listConnectConnections({ appName: "billing", seenSince: 0 })).toEqual([]);
      expect(await store().deleteConnectConnections({ connectionId: "c1" })).toBe(0);
      expect(await store().deleteConnectConnections({ seenBefore: 4_000 })).toBe(1);
      expect((await store().listConnectConnections({ appName: "shop", seenSince: 0 })).map((r) => r.connectionId)).toEqual(["c3"]);
      expect(await store().deleteConnectConnections({})).toBe(0);
    });
  });
}
