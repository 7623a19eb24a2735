/**
 * The `stepwise` command on Postgres: `migrate` (and `--print`), `dev --db postgres://…`
 * running a synced app's function, `--no-migrate` on an out-of-date schema, and the URL's
 * password never printed.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@stepwise/store-postgres/testing";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

const bin = fileURLToPath(new URL("../packages/stepwise/bin/stepwise.js", import.meta.url));
const children: ChildProcess[] = [];
const servers: Server[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});
afterAll(async () => {
  for (const db of databases) await db.drop();
});

/** The database URL with a password in it (the test server trusts any): it must never be printed. */
async function database(empty: boolean): Promise<string> {
  const db = await createTestDatabase({ empty });
  databases.push(db);
  const url = new URL(db.url);
  url.password = "hunter2-secret";
  return url.toString();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(output: () => string, pattern: RegExp, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(output()).toMatch(pattern);
}

const env = { ...process.env, STEPWISE_DB: "", DATABASE_URL: "" };
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env });

describe("stepwise CLI on Postgres", () => {
  it("migrate --print shows the pending SQL and applies nothing; migrate applies it; the password is never printed", async () => {
    const url = await database(true);
    const printed = run("migrate", "--db", url, "--print");
    expect(printed.status).toBe(0);
    expect(printed.stdout).toMatch(/^-- 0001_init\.sql\n/);
    expect(printed.stdout).toContain("CREATE TABLE queue");
    // nothing applied: starting with --no-migrate still finds the schema out of date
    const refused = run("dev", "--db", url, "--no-migrate", "--no-discovery", "--port", "0");
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      /schema is not current \(pending: 0001_init\.sql, 0002_request_version_and_apps\.sql, 0003_run_trace_context\.sql, 0004_metadata\.sql, 0005_retention\.sql, 0006_connect_connections\.sql, 0007_parent_run\.sql, 0008_dashboard_reruns_and_replay_jobs\.sql, 0009_run_parallel\.sql\)\n {2}hint: run `stepwise migrate --db <url>` first/,
    );

    const applied = spawnSync(process.execPath, [bin, "migrate"], { encoding: "utf8", env: { ...env, DATABASE_URL: url } });
    expect(applied.status).toBe(0);
    expect(applied.stdout).toMatch(
      /is at the current schema \(applied 0001_init\.sql, 0002_request_version_and_apps\.sql, 0003_run_trace_context\.sql, 0004_metadata\.sql, 0005_retention\.sql, 0006_connect_connections\.sql, 0007_parent_run\.sql, 0008_dashboard_reruns_and_replay_jobs\.sql, 0009_run_parallel\.sql\)/,
    );
    expect(run("migrate", "--db", url, "--print").stdout).toMatch(/the schema is current; nothing to apply/);
    for (const r of [printed, refused, applied]) expect(r.stdout + r.stderr).not.toContain("hunter2-secret");
    expect(applied.stdout).toContain(":***@");
  });

  it("migrate needs a database, and says how to give one", () => {
    const r = run("migrate");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/stepwise migrate needs a database\n {2}hint: pass --db <path\|postgres:\/\/…> or set STEPWISE_DB or DATABASE_URL/);
  });

  it("dev --db postgres://… syncs an app, runs its function, logs the URL without its password, and stops cleanly", async () => {
    const url = await database(true);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const inngest = new Inngest({ id: "pg-app", isDev: true, baseUrl: base, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fn = inngest.createFunction({ id: "hello", triggers: [{ event: "pg/hello" }] }, async ({ step }) => step.run("hi", () => "hi"));
    const app = createServer(serve({ client: inngest, functions: [fn] }));
    servers.push(app);
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
    const appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;

    const child = spawn(process.execPath, [bin, "dev", "-u", appUrl, "--port", String(port), "--db", url, "--no-discovery"], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    await waitFor(() => out, /synced http:\/\/127\.0\.0\.1:\d+\/api\/inngest \(1 functions\)/);
    expect(out).toMatch(/listening on .* \(database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/stepwise_test_/);
    await inngest.send({ name: "pg/hello" });
    await waitFor(() => out, /✓ pg-app-hello Completed/);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).not.toContain("hunter2-secret");
  }, 40_000);

  it("start --db postgres://… (DATABASE_URL) serves, keeping API tokens in ./stepwise.tokens.json", async () => {
    const url = await database(false);
    const port = await freePort();
    // a working directory of its own (the tokens file lands there) that still resolves the repository's packages
    const cwd = tempDir();
    symlinkSync(fileURLToPath(new URL("../node_modules", import.meta.url)), join(cwd, "node_modules"));
    const child = spawn(process.execPath, [bin, "start", "--port", String(port), "--signing-key", "signkey-test-0123abcd", "--event-key", "ek"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, DATABASE_URL: url },
      cwd,
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    await waitFor(() => out, /stepwise start: listening on http:\/\/127\.0\.0\.1:\d+ \(database postgres:\/\/postgres:\*\*\*@/);
    const sent = await fetch(`http://127.0.0.1:${port}/e/ek`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"pg/ping"}' });
    expect(sent.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).not.toContain("hunter2-secret");
    const tokens = spawnSync(process.execPath, [bin, "tokens", "create", "--name", "ci", "--db", url], { encoding: "utf8", env, cwd });
    expect(tokens.status).toBe(0);
    expect(existsSync(join(cwd, "stepwise.tokens.json"))).toBe(true);
  }, 40_000);
});
