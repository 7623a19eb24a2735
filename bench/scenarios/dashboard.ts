/**
 * The dashboard's run list at 100,000 runs: first page, filtered pages and a deep page
 * through the cursor, via the HTTP API (Hono `app.request`, no socket).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type EventRecord, newId, type RunRecord } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { ms, percentile, type Row } from "../harness.ts";

const total = 100_000;
const samples = 200;

export async function dashboard(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-dash-bench-"));
  const store = new SqliteStore({ filename: join(dir, "dash.db") });
  await store.migrate();
  const engine = createEngine({ store, logger: silentLogger });
  const { app } = createServer({ engine, logger: silentLogger, mode: "dev" });
  try {
    const t0 = Date.now() - 7 * 86_400_000;
    for (let i = 0; i < total; i += 5_000) {
      const events: EventRecord[] = [];
      const runs: RunRecord[] = [];
      for (let j = 0; j < 5_000; j++) {
        const at = t0 + Math.floor(((i + j) / total) * 7 * 86_400_000);
        const internalId = newId();
        events.push({ internalId, id: internalId, name: "bench/e", data: { n: i + j }, user: {}, ts: at, receivedAt: at });
        runs.push({ id: newId(), functionId: `bench-fn-${(i + j) % 10}`, status: "Queued", eventIds: [internalId], createdAt: at });
      }
      await store.ingestEvents({ events, runs, items: [] });
    }
    // a tenth of the runs end, so status filters have something to find
    const some = await store.listRuns({ limit: 1000 });
    for (const run of some.slice(0, 1000)) await store.commitTransition({ runId: run.id, run: { status: "Failed", endedAt: Date.now() } });
    const time = async (path: string) => {
      const out: number[] = [];
      for (let i = 0; i < samples; i++) {
        const start = performance.now();
        const res = await app.request(path);
        await res.json();
        out.push(performance.now() - start);
      }
      return out.sort((a, b) => a - b);
    };
    const deepCursor = async () => {
      let cursor = "";
      for (let page = 0; page < 100; page++) {
        const res = (await (await app.request(`/v1/runs?limit=50${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { cursor: string };
        cursor = res.cursor;
      }
      return cursor;
    };
    const cursor = await deepCursor();
    const cases: Array<[string, string]> = [
      ["first page", "/v1/runs?limit=50"],
      ["by function", "/v1/runs?limit=50&function_id=bench-fn-3"],
      ["by function + status", "/v1/runs?limit=50&function_id=bench-fn-3&status=Failed"],
      ["by status + last 24 h", `/v1/runs?limit=50&status=Queued&from=${new Date(Date.now() - 86_400_000).toISOString()}`],
      ["page 101 via cursor", `/v1/runs?limit=50&cursor=${cursor}`],
    ];
    const rows: Row[] = [];
    for (const [label, path] of cases) {
      const t = await time(path);
      rows.push({
        scenario: "dashboard",
        metric: `GET /v1/runs at 100k runs, ${label}: p50 / p99`,
        value: `${ms(percentile(t, 50))} / ${ms(percentile(t, 99))}`,
      });
    }
    return rows;
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
