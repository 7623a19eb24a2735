/**
 * `GET /health` (liveness) and `GET /ready` (readiness: the store answers and the node is
 * not draining), both without a credential in start mode and without secrets in them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "@stepwise/engine";
import { silentLogger } from "@stepwise/protocol";
import { createServer } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { afterEach, describe, expect, it } from "vitest";

const signingKey = "signkey-test-0123456789abcdef";
const engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(mode: "dev" | "start") {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-health-"));
  dirs.push(dir);
  const store = new SqliteStore({ filename: join(dir, "h.db") });
  await store.migrate();
  const engine = createEngine({ store, logger: silentLogger });
  engines.push(engine);
  await engine.start();
  const server = createServer({ engine, logger: silentLogger, mode, ...(mode === "start" ? { signingKey, eventKey: "evt-key-secret" } : {}) });
  const get = async (path: string) => {
    const res = await server.app.request(path);
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };
  return { engine, get };
}

describe.each(["dev", "start"] as const)("health and readiness (%s mode)", (mode) => {
  it("/health is 200 and /ready is 200 while the store answers, without a credential", async () => {
    const { get } = await setup(mode);
    expect(await get("/health")).toMatchObject({ status: 200, body: { status: "ok", mode } });
    expect(await get("/ready")).toMatchObject({ status: 200, body: { status: "ready" } });
  });

  it("/ready turns 503 with a reason once the node drains; /health stays 200", async () => {
    const { engine, get } = await setup(mode);
    const drained = engine.drain();
    const ready = await get("/ready");
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: "not_ready", reason: expect.stringMatching(/^draining/) });
    await drained;
    expect((await get("/ready")).status).toBe(503);
    expect((await get("/health")).status).toBe(200);
  });

  it("/ready is 503 when the store does not answer, and says nothing of the error", async () => {
    const { engine, get } = await setup(mode);
    engine.store.nextAvailableAt = async () => {
      throw new Error(`connect ECONNREFUSED postgres://admin:hunter2@db.internal/stepwise (${signingKey})`);
    };
    const ready = await get("/ready");
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: "not_ready", reason: expect.stringMatching(/^store/) });
    for (const secret of ["hunter2", "db.internal", signingKey, "ECONNREFUSED", "evt-key-secret"]) expect(ready.text).not.toContain(secret);
    expect((await get("/health")).status).toBe(200);
  });

  it("/ready is 503 when the store hangs past its timeout", async () => {
    const { engine, get } = await setup(mode);
    engine.store.nextAvailableAt = () => new Promise(() => {});
    const started = Date.now();
    const ready = await get("/ready");
    expect(ready.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  });
});
