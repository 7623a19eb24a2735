/**
 * Credentials and origins: the dashboard secret and sessions of `stepwise start`, API
 * tokens, the static-file root, malformed paths, and what `stepwise dev` answers to.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { runServer } from "@stepwise/cli";
import { createEngine, type Engine } from "@stepwise/engine";
import { hashSigningKey, type Logger, silentLogger } from "@stepwise/protocol";
import { createServer, TokenStore, tokenFileFor } from "@stepwise/server";
import { SqliteStore } from "@stepwise/store-sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";

const signingKey = "signkey-test-00aa11";
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

async function engine(): Promise<Engine> {
  const store = new SqliteStore({ filename: ":memory:" });
  await store.migrate();
  const e = createEngine({ store, logger: silentLogger });
  await e.start();
  cleanup.push(() => e.close());
  return e;
}

function recordingLogger(lines: string[]): Logger {
  const push = (m: unknown) => lines.push(String(m));
  return { debug: push, info: push, warn: push, error: push } as unknown as Logger;
}

async function start(extra: Record<string, unknown> = {}) {
  const server = createServer({
    engine: await engine(),
    logger: silentLogger,
    mode: "start",
    signingKey,
    eventKey: "ek",
    dashboardToken: "let-me-in",
    ...extra,
  });
  const req = (path: string, init: RequestInit = {}) => server.app.request(`http://stepwise.test${path}`, init);
  const login = async (headers: Record<string, string> = {}) => {
    const res = await req("/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ token: "let-me-in" }),
    });
    return { res, cookie: (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "" };
  };
  return { server, req, login };
}

/** A raw HTTP request (fetch will not send a chosen Host header). */
function raw(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(url, { method, headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    r.on("error", reject);
    r.end(body);
  });
}

describe("stepwise start: credentials", () => {
  it("the signing key is not a dashboard or API credential: neither as ?token= nor as a raw bearer", async () => {
    const running = await runServer({
      mode: "start",
      port: 0,
      db: ":memory:",
      signingKey,
      eventKey: "ek",
      logRuns: false,
      logger: silentLogger,
      dashboard: false,
    });
    cleanup.push(() => running.close());
    expect((await fetch(`${running.url}/v1/functions?token=${signingKey}`)).status).toBe(401);
    expect((await fetch(`${running.url}/v0/runs/x/actions?token=${signingKey}`)).status).toBe(401);
    expect((await fetch(`${running.url}/v1/functions`, { headers: { authorization: `Bearer ${signingKey}` } })).status).toBe(401);
    // apps keep calling with the hashed signing key, as the SDKs do
    expect((await fetch(`${running.url}/v1/functions`, { headers: { authorization: `Bearer ${hashSigningKey(signingKey)}` } })).status).toBe(200);
  });

  it("start without --dashboard-token generates a secret, prints it once, and it is not the signing key", async () => {
    const lines: string[] = [];
    const running = await runServer({
      mode: "start",
      port: 0,
      db: ":memory:",
      signingKey,
      eventKey: "ek",
      logRuns: false,
      logger: recordingLogger(lines),
      dashboard: false,
    });
    cleanup.push(() => running.close());
    const printed = lines.join("\n").match(/dashboard secret[^:]*: (\S+)/)?.[1];
    expect(printed).toMatch(/^swd_[A-Za-z0-9_-]{43}$/);
    expect(printed).not.toContain(signingKey);
    expect(lines.join("\n").match(/swd_/g)).toHaveLength(1);
    const ok = await fetch(`${running.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: printed }),
    });
    expect(ok.status).toBe(200);
    await expect(
      runServer({ mode: "start", port: 0, db: ":memory:", signingKey, eventKey: "ek", dashboardToken: signingKey, logger: silentLogger }),
    ).rejects.toThrow(/must not be the signing key/);
  });

  it("the dashboard secret is never accepted in a URL", async () => {
    const { req } = await start();
    expect((await req("/v1/functions?token=let-me-in")).status).toBe(401);
    expect((await req("/v1/functions", { headers: { authorization: "Bearer let-me-in" } })).status).toBe(200);
  });

  it("login gives an HttpOnly SameSite=Strict session cookie (Secure over https) that opens the API; wrong secrets do not", async () => {
    const { req, login } = await start();
    const { res, cookie } = await login();
    expect(res.status).toBe(200);
    const setCookie = res.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^stepwise_session=sws_/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(setCookie).not.toContain("let-me-in");
    expect((await req("/v1/functions", { headers: { cookie } })).status).toBe(200);
    expect((await req("/v1/functions", { headers: { cookie: "stepwise_session=sws_forged" } })).status).toBe(401);
    const behindTls = await login({ "x-forwarded-proto": "https" });
    expect(behindTls.res.headers.get("set-cookie")).toMatch(/; Secure/);
    const wrong = await req("/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: "let-me-i" }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const logout = await req("/auth/logout", { method: "POST", headers: { cookie } });
    expect(logout.status).toBe(200);
    expect((await req("/v1/functions", { headers: { cookie } })).status).toBe(401);
  });

  it("cookie-authenticated POST and DELETE need the server's own Origin and a JSON body type (CSRF)", async () => {
    const { req, login } = await start();
    const { cookie } = await login();
    const own = "http://stepwise.test";
    const sync = (headers: Record<string, string>) =>
      req("/v1/apps/sync", { method: "POST", headers: { cookie, ...headers }, body: JSON.stringify({ url: "" }) });
    expect((await sync({ "content-type": "application/json" })).status).toBe(403);
    expect((await sync({ "content-type": "application/json", origin: "https://evil.example" })).status).toBe(403);
    expect((await sync({ "content-type": "text/plain", origin: own })).status).toBe(403);
    expect((await sync({ "content-type": "application/json", origin: own })).status).not.toBe(403);
    const cancel = (headers: Record<string, string>) => req("/v1/runs/01NOPE", { method: "DELETE", headers: { cookie, ...headers } });
    expect((await cancel({ origin: "https://evil.example", "content-type": "application/json" })).status).toBe(403);
    expect((await cancel({ origin: own, "content-type": "application/json" })).status).toBe(404);
  });

  it("failed logins: 5 per minute per address, then 429 even for the right secret; each failure is logged", async () => {
    const lines: string[] = [];
    const { req } = await start({ logger: recordingLogger(lines) });
    const attempt = (token: string) => req("/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) });
    for (let i = 0; i < 5; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
    expect((await attempt("let-me-in")).status).toBe(429);
    expect(lines.filter((l) => /failed dashboard login/.test(l))).toHaveLength(5);
    expect(lines.some((l) => /too many failed attempts/.test(l))).toBe(true);
  });

  it("API tokens: created, listed and revoked through /v1/tokens; stored only as SHA-256 in a 0600 file", async () => {
    const dir = tempDir();
    const file = tokenFileFor(join(dir, "s.db"));
    const { req } = await start({ tokens: new TokenStore(file) });
    const admin = { authorization: "Bearer let-me-in", "content-type": "application/json" };
    const created = await req("/v1/tokens", { method: "POST", headers: admin, body: JSON.stringify({ name: "ci" }) });
    expect(created.status).toBe(201);
    const { data } = (await created.json()) as { data: { token: string; id: string; name: string } };
    expect(data.token).toMatch(/^swt_[A-Za-z0-9_-]{43}$/);
    const stored = readFileSync(file, "utf8");
    expect(stored).not.toContain(data.token);
    expect(stored).toContain(createHashHex(data.token));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await req("/v1/functions", { headers: { authorization: `Bearer ${data.token}` } })).status).toBe(200);
    const listed = (await (await req("/v1/tokens", { headers: admin })).json()) as { data: Array<{ id: string; name: string }> };
    expect(listed.data).toEqual([expect.objectContaining({ id: data.id, name: "ci" })]);
    expect(JSON.stringify(listed)).not.toContain(data.token);
    expect((await req(`/v1/tokens/${data.id}`, { method: "DELETE", headers: admin })).status).toBe(200);
    expect((await req("/v1/functions", { headers: { authorization: `Bearer ${data.token}` } })).status).toBe(401);
    expect((await req("/v1/tokens", { headers: {} })).status).toBe(401);
  });

  it("a token made by another process (the CLI) works at once on a running server", async () => {
    const file = tokenFileFor(join(tempDir(), "s.db"));
    const { req } = await start({ tokens: new TokenStore(file) });
    const { token } = new TokenStore(file).create("later");
    expect((await req("/v1/functions", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it("the event key is still checked, and a wrong key of any length is refused", async () => {
    const { req } = await start();
    const send = (key: string) => req(`/e/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "a/b" }) });
    expect((await send("ek")).status).toBe(200);
    for (const key of ["e", "ex", "ekk", "x".repeat(200)]) expect((await send(key)).status).toBe(401);
  });
});

describe("static files and paths", () => {
  it("a sibling folder whose name starts with the dashboard folder's is not served", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "dist"));
    mkdirSync(join(dir, "dist-private"));
    writeFileSync(join(dir, "dist", "index.html"), "<html>dashboard</html>");
    writeFileSync(join(dir, "dist-private", "secret.txt"), "TOP SECRET");
    const { req } = await start({ dashboardDir: join(dir, "dist") });
    const res = await req("/..%2fdist-private%2fsecret.txt");
    expect(await res.text()).not.toContain("TOP SECRET");
    expect(await (await req("/")).text()).toContain("dashboard");
  });

  it("malformed percent-encoding in a path is a 400, in dev and in start, with or without the dashboard", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "index.html"), "<html></html>");
    const { req } = await start({ dashboardDir: dir });
    for (const path of ["/%E0%A4%A", "/v1/runs/%E0%A4%A", "/e/%ZZ"]) {
      const res = await req(path);
      expect(res.status, path).toBe(400);
      expect(await res.json()).toMatchObject({ code: "bad_request" });
    }
    const dev = createServer({ engine: await engine(), logger: silentLogger, mode: "dev", dashboardDir: dir });
    expect((await dev.app.request("/%E0%A4%A")).status).toBe(400);
  });
});

describe("stepwise dev: Host and Origin", () => {
  async function dev() {
    const running = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, logger: silentLogger, dashboard: false });
    cleanup.push(() => running.close());
    return { url: running.url, port: new URL(running.url).port };
  }

  it("answers only to loopback Host names (DNS rebinding)", async () => {
    const { url, port } = await dev();
    expect((await raw(`${url}/v1/functions`, "GET", { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw(`${url}/v1/functions`, "GET", { host: "rebind.attacker.test" })).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "localhost"]) {
      expect((await raw(`${url}/v1/functions`, "GET", { host })).status, host).toBe(200);
    }
  });

  it("refuses cross-origin and non-JSON state-changing requests; SDK-style JSON requests work", async () => {
    const { url, port } = await dev();
    const event = JSON.stringify({ name: "x/y" });
    const post = (path: string, headers: Record<string, string>, body = event) => raw(`${url}${path}`, "POST", { host: `127.0.0.1:${port}`, ...headers }, body);
    expect((await post("/e/key", { "content-type": "application/json", origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/e/key", { "content-type": "application/json", origin: "null" })).status).toBe(403);
    expect((await post("/e/key", { "content-type": "text/plain" })).status).toBe(415);
    expect((await post("/e/key", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
    expect((await post("/v1/apps/sync", { "content-type": "text/plain", origin: "https://evil.example" }, JSON.stringify({ url: "http://x" }))).status).toBe(
      403,
    );
    expect((await raw(`${url}/v1/runs/01X`, "DELETE", { host: `127.0.0.1:${port}`, origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/e/key", { "content-type": "application/json" })).status).toBe(200);
    expect((await post("/e/key", { "content-type": "application/json", origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });
});

function createHashHex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
