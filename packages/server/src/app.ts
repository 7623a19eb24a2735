/**
 * @module app
 * `createServer({ engine, … })`: the Hono app of a Stepwise server. It owns no engine and
 * no listening socket; the CLI (or a test, through `app.request`) provides both.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import type { Engine } from "@stepwise/engine";
import { consoleLogger, type Logger } from "@stepwise/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppRegistry } from "./apps/app-registry.ts";
import { devGuard } from "./auth/guard.ts";
import { safeEqual } from "./auth/secrets.ts";
import { startAuth } from "./auth/start-auth.ts";
import { TokenStore } from "./auth/token-store.ts";
import { ConnectGateway, type ConnectGatewayOptions } from "./connect/gateway.ts";
import { connectRoutes } from "./connect/routes.ts";
import type { DurableEndpoints } from "./driver/endpoint-function.ts";
import { errorBody } from "./errors.ts";
import { RealtimeHub } from "./realtime/hub.ts";
import { realtimeRoutes, realtimeSsePath } from "./realtime/routes.ts";
import { RealtimeTokens } from "./realtime/tokens.ts";
import { checkpointRoutes } from "./routes/checkpoint.ts";
import type { ServerContext } from "./routes/context.ts";
import { dashboardRoutes } from "./routes/dashboard-api.ts";
import { eventRoutes } from "./routes/events.ts";
import { graphqlRoutes } from "./routes/graphql.ts";
import { healthRoutes } from "./routes/health.ts";
import { metadataRoutes } from "./routes/metadata.ts";
import { createMetrics, metricsRoutes, type StepwiseMetrics } from "./routes/metrics.ts";
import { registerRoutes } from "./routes/register.ts";
import { parse, readJson, tokenBody } from "./routes/schemas.ts";
import { v0Routes } from "./routes/v0.ts";
import { v1Routes } from "./routes/v1.ts";

export interface ServerOptions {
  engine: Engine;
  logger?: Logger;
  /**
   * `"dev"`: no keys, open on loopback. `"start"`: `signingKey`, `eventKey` and
   * `dashboardToken` required; `/fn/register`, `/v0` and `/v1` need a credential (the signing
   * key's hashed bearer, an API token, the dashboard secret as bearer, or a session cookie),
   * `/e/` the event key, and calls to apps are signed.
   */
  mode: "dev" | "start";
  signingKey?: string;
  signingKeyFallback?: string;
  eventKey?: string;
  /** A call to an app that takes longer fails and is retried. (Default: 5 minutes.) */
  callTimeoutMs?: number;
  /** Largest request body. (Default: 10 MiB.) */
  maxBodyBytes?: number;
  /** How often the live stream (`/v1/stream`) looks for runs changed by other nodes, in ms. (Default: 1000.) */
  clusterPollMs?: number;
  /** The built dashboard (static files) to serve at `/`. */
  dashboardDir?: string;
  /**
   * start mode: the dashboard secret (without one, the dashboard cannot log in). The dashboard's login form posts it
   * to `/auth/login` for a session cookie; API clients may send it as a bearer. Never the
   * signing key.
   */
  dashboardToken?: string;
  /** start mode: the API tokens (`Authorization: Bearer swt_…`). (Default: in memory.) */
  tokens?: TokenStore;
  /**
   * dev mode: the `Host` names answered (any port), or `"any"`. Also refuses cross-origin
   * and non-JSON state-changing requests. Unset: no such checks (in-process use, tests);
   * `stepwise dev` always sets it.
   */
  allowedHosts?: readonly string[] | "any";
  /** Connect (workers on a WebSocket): intervals and timeouts of the gateway. */
  connect?: Pick<
    ConnectGatewayOptions,
    "heartbeatIntervalMs" | "extendLeaseIntervalMs" | "leaseTimeoutMs" | "noWorkerWaitMs" | "recentWorkerMs" | "registryIntervalMs" | "nodeId"
  >;
  /**
   * Several nodes on one database (Connect): where other nodes reach this one
   * (`--node-url`), and the secret forwards between nodes are signed with (`--node-secret`;
   * start mode: the signing key unless given).
   */
  cluster?: { nodeUrl?: string; nodeSecret?: string };
  /**
   * The metrics `GET /metrics` serves: make them with `createMetrics()` and pass their
   * `hooks` to the engine too. (Default: made here, without the engine's hooks or Node's
   * process metrics: only the store-backed gauges.)
   */
  metrics?: StepwiseMetrics;
  /**
   * The drivers of durable-endpoint runs that go async: the same object whose `driver` the
   * engine was given as `EngineOptions.durableEndpoints`. (Default: none; such runs fail.)
   */
  endpoints?: DurableEndpoints;
  /** start mode: serve `/metrics` without a credential (for a scraper inside a private network). (Default: false.) */
  metricsPublic?: boolean;
  /** Realtime subscriptions (docs/realtime.md): the lifetime of a subscription token, ms. (Default: 60,000.) */
  realtime?: { tokenTtlMs?: number };
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
    if (/^\/(v0|v1|e|fn|auth)\//.test(path) || ["/health", "/ready", "/metrics"].includes(path)) return next();
    let file = resolve(join(root, path));
    if ((file !== root && !file.startsWith(root + sep)) || !existsSync(file) || !statSync(file).isFile()) file = join(root, "index.html");
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
  /** Connect workers' sockets: the HTTP server passes its `upgrade` events to `connect.handleUpgrade`. */
  connect: ConnectGateway;
  /** Realtime subscribers' sockets: upgrades for `/v1/realtime/connect` go to `realtime.handleUpgrade`; `close()` ends every subscription. */
  realtime: RealtimeHub;
}

export function createServer(options: ServerOptions): StepwiseServer {
  const logger = options.logger ?? consoleLogger;
  if (options.mode === "start" && (!options.signingKey || !options.eventKey)) {
    throw new Error("createServer: start mode needs both signingKey and eventKey");
  }
  if (options.mode === "start" && options.dashboardToken !== undefined && [options.signingKey, options.signingKeyFallback].includes(options.dashboardToken)) {
    throw new Error("createServer: the dashboard secret must not be the signing key");
  }
  const signingKeys = options.mode === "start" ? [options.signingKey, options.signingKeyFallback].filter((k): k is string => !!k) : [];
  const apps = new AppRegistry({
    engine: options.engine,
    logger,
    serverKind: options.mode === "start" ? "cloud" : "dev",
    callTimeoutMs: options.callTimeoutMs ?? 5 * 60_000,
    ...(options.mode === "start" && options.signingKey ? { signingKey: options.signingKey } : {}),
  });
  const ctx: ServerContext = {
    engine: options.engine,
    apps,
    logger,
    signingKeys,
    ...(options.mode === "start" ? { eventKey: options.eventKey } : {}),
    ...(options.clusterPollMs !== undefined ? { clusterPollMs: options.clusterPollMs } : {}),
    ...(options.endpoints ? { endpoints: options.endpoints } : {}),
  };
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;

  const app = new Hono();
  app.use("*", async (c, next) => {
    try {
      decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      return c.json({ error: "malformed percent-encoding in the request path", code: "bad_request", status: 400 }, 400);
    }
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => c.json({ error: `request body is larger than ${maxBodyBytes} bytes`, code: "limit_exceeded", status: 413 }, 413),
    }),
  );
  const nodeSecret = options.cluster?.nodeSecret ?? (options.mode === "start" ? options.signingKey : undefined);
  if (options.cluster?.nodeUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.cluster.nodeUrl);
    } catch {}
    if (!url || !["http:", "https:"].includes(url.protocol) || url.username || url.password || url.search) {
      throw new Error(`createServer: cluster.nodeUrl must be an http(s) URL without credentials or query, received ${JSON.stringify(options.cluster.nodeUrl)}`);
    }
  }
  if (options.cluster?.nodeSecret !== undefined && options.cluster.nodeSecret.length < 16)
    throw new Error("createServer: cluster.nodeSecret must be at least 16 characters");
  const connect = new ConnectGateway({
    engine: options.engine,
    logger,
    callTimeoutMs: options.callTimeoutMs ?? 5 * 60_000,
    ...options.connect,
    ...(options.mode === "dev" && options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.cluster?.nodeUrl ? { nodeUrl: options.cluster.nodeUrl } : {}),
    ...(nodeSecret ? { nodeSecret } : {}),
  });
  // before the dev guard and start-mode credentials: protobuf bodies, signing key only (in start mode)
  app.route(
    "/",
    connectRoutes({
      gateway: connect,
      mode: options.mode,
      // start mode without its own node secret: forwards signed with the fallback key (nodes mid-rotation) are accepted too
      ...(nodeSecret
        ? { nodeSecrets: options.cluster?.nodeSecret || !options.signingKeyFallback ? [nodeSecret] : [nodeSecret, options.signingKeyFallback] }
        : {}),
      signingKeys,
      ...(options.mode === "dev" && options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
    }),
  );
  if (options.mode === "dev" && options.allowedHosts) app.use("*", devGuard(options.allowedHosts));
  if (options.mode === "start") {
    const tokens = options.tokens ?? new TokenStore();
    const requireCredential = startAuth(app, {
      signingKeys,
      ...(options.dashboardToken ? { dashboardSecret: options.dashboardToken } : {}),
      tokens,
      logger,
    });
    app.use("/fn/*", requireCredential);
    app.use("/v0/*", requireCredential);
    // credentials of their own: a durable endpoint's output is read with its run's token (the SDK's
    // proxy and redirected clients send no credential); a realtime subscription carries its token
    const runOutput = /^\/v1\/http\/runs\/[^/]+\/output$/;
    app.use("/v1/*", (c, next) =>
      c.req.path === realtimeSsePath || (c.req.method === "GET" && runOutput.test(c.req.path)) ? next() : requireCredential(c, next),
    );
    if (!options.metricsPublic) app.use("/metrics", requireCredential);
    const eventKey = options.eventKey as string;
    app.use("/e/:eventKey", async (c, next) => {
      if (!safeEqual(c.req.param("eventKey"), eventKey)) {
        return c.json({ error: "unknown event key; send with the key this server was started with (--event-key)", code: "unauthorized", status: 401 }, 401);
      }
      await next();
    });
    app.route("/", tokenRoutes(tokens));
  }
  app.route("/", healthRoutes(options.engine, options.mode, logger));
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: false });
  metrics.bindEngine(options.engine, logger);
  app.route("/", metricsRoutes(metrics, logger));
  app.route("/", eventRoutes(ctx));
  app.route("/", registerRoutes(ctx));
  app.route("/", v0Routes(ctx));
  app.route("/", graphqlRoutes(ctx));
  app.route("/", checkpointRoutes(ctx));
  const realtimeTokens = new RealtimeTokens({
    signingKeys,
    ...(options.realtime?.tokenTtlMs !== undefined ? { ttlMs: options.realtime.tokenTtlMs } : {}),
  });
  const realtime = new RealtimeHub({
    bus: options.engine.realtime,
    tokens: realtimeTokens,
    ...(options.mode === "dev" && options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
  });
  app.route("/", realtimeRoutes(ctx, realtime, realtimeTokens));
  const v1 = v1Routes(ctx);
  v1.route("/", dashboardRoutes(ctx));
  v1.route("/", metadataRoutes(ctx));
  app.route("/", v1);
  // behind the same credentials as the rest of /v1
  app.get("/v1/connect/connections", (c) => c.json({ data: connect.list(), node: connect.node() }));
  if (options.dashboardDir) mountDashboard(app, options.dashboardDir);
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}`, code: "not_found", status: 404 }, 404));
  return { app, apps, connect, realtime };
}

/** `POST /v1/tokens {name}` → `{ data: { token, id, name, createdAt } }` (shown once), `GET /v1/tokens`, `DELETE /v1/tokens/:id`. */
function tokenRoutes(tokens: TokenStore) {
  const app = new Hono();
  app.post("/v1/tokens", async (c) => {
    try {
      const body = parse(tokenBody, await readJson(c.req, {}));
      const { token, info } = tokens.create((body.name ?? "").slice(0, 100));
      return c.json({ data: { token, ...info } }, 201);
    } catch (error) {
      const body = errorBody(error);
      return c.json(body, body.status as 400);
    }
  });
  app.get("/v1/tokens", (c) => c.json({ data: tokens.list() }));
  app.delete("/v1/tokens/:id", (c) =>
    tokens.revoke(c.req.param("id"))
      ? c.json({ data: { revoked: c.req.param("id") } })
      : c.json({ error: "no such token", code: "not_found", status: 404 }, 404),
  );
  return app;
}
