/**
 * @module @stepwise/store-conformance
 * One suite, written once, that every `Store` runs (SQLite on a file, SQLite in memory,
 * Postgres): the transitions the engine relies on, checked against the real database.
 * Split by domain: queue, runs and steps, events, pauses and cron, retention, and races (concurrent
 * calls on one instance and, when the factory can open one, on a second instance).
 */
import { describe } from "vitest";
import { connectSuite } from "./connect.ts";
import { dashboardSuite } from "./dashboard.ts";
import { eventsSuite } from "./events.ts";
import type { StoreFactory } from "./fixtures.ts";
import { metadataSuite } from "./metadata.ts";
import { parentRunsSuite } from "./parent-runs.ts";
import { pausesSuite } from "./pauses.ts";
import { queueSuite } from "./queue.ts";
import { racesSuite } from "./races.ts";
import { retentionSuite } from "./retention.ts";
import { runsSuite } from "./runs.ts";

export type { StoreFactory } from "./fixtures.ts";

export function runStoreConformance(name: string, factory: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    queueSuite(factory);
    runsSuite(factory);
    eventsSuite(factory);
    pausesSuite(factory);
    racesSuite(factory);
    connectSuite(factory);
    metadataSuite(factory);
    retentionSuite(factory);
    parentRunsSuite(factory);
    dashboardSuite(factory);
  });
}
