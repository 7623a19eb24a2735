/**
 * @module app
 * `createServer({ engine, … })`: the Hono app of a Stepwise server. It owns no engine and
 * no listening socket; the CLI (or a test, through `app.request`) provides both.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import type { Engine } from "@stepwise/engine";
import { consoleLogger, type Logger, verifyBearer } from "@stepwise/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppRegistry } from "./apps/app-registry.ts";
import type { ServerContext } from "./routes/context.ts";
import { dashboardRoutes } from "./routes/dashboard-api.ts";
import { eventRoutes } from "./routes/events.ts";
import { registerRoutes } from "./routes/register.ts";
import { v0Routes } from "./routes/v0.ts";
import { v1Routes } from "./routes/v1.ts";

export interface ServerOptions {
  engine: Engine;
  logger?: Logger;
  /**
   * `"dev"`: no keys, open on loopback. `"start"`: `signingKey` and `eventKey` required;
   * `/fn/register`, `/v0` and `/v1` need the signing key's bearer, `/e/` the event key, and
   * calls to apps are signed.
   */
  mode: "dev" | "start";
  signingKey?: string;
  signingKeyFallback?: string;
  eventKey?: string;
  /** A call to an app that takes longer fails and is retried. (Default: 5 minutes.) */
  callTimeoutMs?: number;
  /** Largest request body. (Default: 10 MiB.) */
  maxBodyBytes?: number;
  /** The built dashboard (static files) to serve at `/`. */
  dashboardDir?: string;
  /** start mode: a token that also opens `/v1` (for the dashboard), besides the signing key's bearer. */
  dashboardToken?: string;
}

/** Serves the dashboard's files; any other non-API path gets index.html (client-side routes). */
function mountDashboard(app: Hono, dir: string) {
  const types: Record<string, string> = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
  };
  const root = resolve(dir);
  app.get("*", async (c, next) => {
    const path = decodeURIComponent(new URL(c.req.url).pathname);
    if (/^\/(v0|v1|e|fn)\//.test(path) || path === "/health") return next();
    let file = resolve(join(root, path));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) file = join(root, "index.html");
    if (!existsSync(file)) return next();
    const body = await readFile(file);
    return c.body(body, 200, {
      "content-type": types[extname(file)] ?? "application/octet-stream",
      "cache-control": file.includes("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    });
  });
}

export interface StepwiseServer {
  app: Hono;
  apps: AppRegistry;
}

export function createServer(options: ServerOptions): StepwiseServer {
  const logger = options.logger ?? consoleLogger;
  if (options.mode === "start" && (!options.signingKey || !options.eventKey)) {
    throw new Error("createServer: start mode needs both signingKey and eventKey");
  }
  const signingKeys = options.mode === "start" ? [options.signingKey, options.signingKeyFallback].filter((k): k is string => !!k) : [];
  const apps = new AppRegistry({
    engine: options.engine,
    logger,
    serverKind: options.mode === "start" ? "cloud" : "dev",
    callTimeoutMs: options.callTimeoutMs ?? 5 * 60_000,
    ...(options.mode === "start" && options.signingKey ? { signingKey: options.signingKey } : {}),
  });
  const ctx: ServerContext = { engine: options.engine, apps, logger, signingKeys, ...(options.mode === "start" ? { eventKey: options.eventKey } : {}) };
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;

  const app = new Hono();
  app.use(
    "*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => c.json({ error: `request body is larger than ${maxBodyBytes} bytes`, code: "limit_exceeded", status: 413 }, 413),
    }),
  );
  const requireBearer = async (c: Parameters<Parameters<Hono["use"]>[1]>[0], next: () => Promise<void>) => {
    const header = c.req.header("authorization");
    const token = options.dashboardToken;
    const tokenOk = token !== undefined && (header === `Bearer ${token}` || c.req.query("token") === token);
    if (signingKeys.length && !tokenOk && !verifyBearer(header, signingKeys)) {
      return c.json({ error: "missing or wrong bearer token: send Authorization: Bearer <hashed signing key>", code: "unauthorized", status: 401 }, 401);
    }
    await next();
  };
  app.use("/fn/*", requireBearer);
  app.use("/v0/*", requireBearer);
  app.use("/v1/*", requireBearer);
  app.get("/health", (c) => c.json({ status: "ok", mode: options.mode }));
  app.route("/", eventRoutes(ctx));
  app.route("/", registerRoutes(ctx));
  app.route("/", v0Routes(ctx));
  const v1 = v1Routes(ctx);
  v1.route("/", dashboardRoutes(ctx));
  app.route("/", v1);
  if (options.dashboardDir) mountDashboard(app, options.dashboardDir);
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}`, code: "not_found", status: 404 }, 404));
  return { app, apps };
}
