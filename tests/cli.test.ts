/**
 * The `stepwise` command as a user runs it: a child process, real ports, real signals.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";

const bin = fileURLToPath(new URL("../packages/stepwise/bin/stepwise.js", import.meta.url));
const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

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

describe("stepwise CLI", () => {
  it("start refuses to run without keys, naming what is missing", () => {
    const env = { ...process.env, STEPWISE_SIGNING_KEY: "", INNGEST_SIGNING_KEY: "", STEPWISE_EVENT_KEY: "", INNGEST_EVENT_KEY: "" };
    const noSigning = spawnSync(process.execPath, [bin, "start"], { encoding: "utf8", env });
    expect(noSigning.status).toBe(2);
    expect(noSigning.stderr).toMatch(/stepwise start needs a signing key\n {2}hint: pass --signing-key/);
    const noEvent = spawnSync(process.execPath, [bin, "start", "--signing-key", "signkey-prod-abcd"], { encoding: "utf8", env });
    expect(noEvent.stderr).toMatch(/needs an event key/);
    const badFlag = spawnSync(process.execPath, [bin, "dev", "--port", "nope"], { encoding: "utf8" });
    expect(badFlag.stderr).toMatch(/--port: expected a port number, received "nope"/);
    const badOrigin = spawnSync(
      process.execPath,
      [bin, "dev", "--db", ":memory:", "--endpoint-origins", "https://ok.example.com,https://api.example.com/path"],
      { encoding: "utf8" },
    );
    expect(badOrigin.status).toBe(2);
    expect(badOrigin.stderr).toMatch(/--endpoint-origins: "https:\/\/api.example.com\/path" is not an origin/);
  });

  it("tokens create, list and revoke edit <db>.tokens.json (0600, hashes only)", () => {
    const db = join(tempDir(), "prod.db");
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, "tokens", ...args, "--db", db], { encoding: "utf8" });
    const created = run("create", "--name", "ci");
    expect(created.status).toBe(0);
    const token = created.stdout.match(/swt_[A-Za-z0-9_-]+/)?.[0] ?? "";
    const id = created.stdout.match(/created token ([0-9a-f]+)/)?.[1] ?? "";
    expect(token).toHaveLength(47);
    const file = readFileSync(`${db}.tokens.json`, "utf8");
    expect(file).not.toContain(token);
    expect(statSync(`${db}.tokens.json`).mode & 0o777).toBe(0o600);
    expect(run("list").stdout).toMatch(new RegExp(`^${id} .* ci$`, "m"));
    expect(run("revoke", id).stdout).toMatch(/revoked/);
    expect(run("list").stdout).toMatch(/no tokens/);
    expect(run("revoke", id).stderr).toMatch(/no token with id/);
  });

  it("dev syncs -u apps, runs their functions, logs runs, and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const inngest = new Inngest({ id: "cli-app", isDev: true, baseUrl: base, logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const fn = inngest.createFunction({ id: "hello", triggers: [{ event: "cli/hello" }] }, async ({ step }) => step.run("hi", () => "hi"));
    const app = createServer(serve({ client: inngest, functions: [fn] }));
    servers.push(app);
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
    const appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;

    const db = join(tempDir(), "cli.db");
    const child = spawn(process.execPath, [bin, "dev", "-u", appUrl, "--port", String(port), "--db", db, "--no-discovery"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    await waitFor(() => out, /synced http:\/\/127\.0\.0\.1:\d+\/api\/inngest \(1 functions\)/);
    await inngest.send({ name: "cli/hello" });
    await waitFor(() => out, /✓ cli-app-hello Completed/);
    expect(out).toMatch(/▶ cli-app-hello started/);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGTERM, shutting down/);
  }, 40_000);
});
