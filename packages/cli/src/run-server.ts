/**
 * @module run-server
 * Runs a Stepwise server: engine on SQLite or Postgres, HTTP on a port, run logging, app
 * syncing and graceful shutdown. Used by `stepwise dev`, `stepwise start` and `npm start`.
 * A Postgres URL's password never reaches a log line or an error message.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import { Engine, type EngineOptions, type Notifier, type RealtimeBus, type Store } from "@stepwise/engine";
import { type ClientHandle, consoleLogger, type FunctionHandle, type Logger } from "@stepwise/protocol";
import {
  createMetrics,
  createServer,
  DurableEndpoints,
  type ServerOptions,
  type StepwiseServer,
  startTracing,
  TokenStore,
  tokenFileFor,
} from "@stepwise/server";
import { isPostgresUrl, PostgresStore, redactSecrets, redactUrl } from "@stepwise/store-postgres";
import { SqliteStore } from "@stepwise/store-sqlite";
import { defaultDiscoveryUrls, startDiscovery, startSyncing } from "./discovery.ts";
import { CLIError } from "./errors.ts";

export interface RunServerOptions {
  mode: "dev" | "start";
  port: number;
  /** Loopback by default; `0.0.0.0` to listen on every interface. */
  host?: string;
  /** A SQLite file path, `:memory:`, or a `postgres://` URL. */
  db: string;
  /** Apply pending migrations on start. `false`: Postgres only, the schema must be current. (Default: true.) */
  migrate?: boolean;
  /** App URLs to sync: at start, then again until each answers, and again after one comes back. */
  urls?: string[];
  discovery?: boolean;
  signingKey?: string;
  signingKeyFallback?: string;
  eventKey?: string;
  /** Functions run in-process beside the served apps (npm start's example app). */
  inProcess?: { client?: ClientHandle; functions: FunctionHandle[] };
  retryDelayScale?: number;
  /** Served runs whose app is unreachable: the outage budget and backoff (`EngineOptions.appOutage`). */
  appOutage?: EngineOptions["appOutage"];
  logger?: Logger;
  /** start: the dashboard secret (required there; never the signing key). */
  dashboardToken?: string;
  /** Serve the dashboard at `/`. (Default: true.) */
  dashboard?: boolean;
  /** Log each run as it starts and ends. (Default: true.) */
  logRuns?: boolean;
  /** How often to register apps other nodes on the same database synced, in ms. (Default: 2000.) */
  appsRefreshMs?: number;
  /** Connect gateway intervals and timeouts (tests shorten them). */
  connect?: ServerOptions["connect"];
  /** start: serve `/metrics` without a credential. (Default: false; dev serves it openly on loopback.) */
  metricsPublic?: boolean;
  /** Several nodes on one database: this node's address for the others, and the node secret (`ServerOptions.cluster`). */
  cluster?: ServerOptions["cluster"];
  /** On shutdown, how long in-flight calls may run before the process leaves them leased, in ms. (Default: 10,000.) */
  drainTimeoutMs?: number;
  /** `step.fetch` / `step.ai.infer` requests the server makes (`EngineOptions.gateway`: `timeoutMs`). */
  gateway?: EngineOptions["gateway"];
  /**
   * Origins where durable endpoints that go async are called back (the address comes from
   * the app's request). (Default: any in dev; none in start.)
   */
  endpointOrigins?: string[];
  /** How long finished runs and events are kept (`EngineOptions.retention`). (Default: 7 days.) */
  retention?: EngineOptions["retention"];
}

export interface RunningServer {
  engine: Engine;
  server: StepwiseServer;
  url: string;
  /** How long shutdown lets calls in flight finish, in ms. */
  drainTimeoutMs: number;
  /** Drains (see `Engine.drain`), stops the HTTP server, closes the engine and store. */
  close(): Promise<void>;
}

function randomSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** The built dashboard, if this install has it. */
function dashboardDir(): string | undefined {
  try {
    const dir = join(dirname(createRequire(import.meta.url).resolve("@stepwise/dashboard/package.json")), "dist");
    return existsSync(join(dir, "index.html")) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * dev: the `Host` names answered. Loopback by default; `--host <name>` adds that name, and
 * a wildcard address (`0.0.0.0`, `::`) answers to any name.
 */
export function devAllowedHosts(host: string | undefined): string[] | "any" {
  const loopback = ["localhost", "127.0.0.1", "[::1]"];
  if (!host) return loopback;
  if (host === "0.0.0.0" || host === "::" || host === "[::]") return "any";
  return [...loopback, host.includes(":") && !host.startsWith("[") ? `[${host}]` : host];
}

/** Where `stepwise tokens` and `start` keep API tokens: beside a SQLite file, or ./stepwise.tokens.json for Postgres. */
export function tokenFileForDb(db: string): string | undefined {
  if (db === ":memory:") return undefined;
  return isPostgresUrl(db) ? resolve("stepwise.tokens.json") : tokenFileFor(db);
}

/** Opens (and, unless told not to, migrates) the store `db` names; failures are CLIErrors without the password. */
export async function openStore(db: string, migrate = true, logger?: Logger): Promise<{ store: Store; notifier?: Notifier; realtime?: RealtimeBus }> {
  const shown = redactUrl(db);
  if (isPostgresUrl(db)) {
    let store: PostgresStore;
    try {
      store = new PostgresStore({ url: db, ...(logger ? { onWarning: (message: string) => logger.warn(message) } : {}) });
    } catch (cause) {
      throw new CLIError(`--db: ${redactSecrets((cause as Error).message, db)}`);
    }
    try {
      if (migrate) await store.migrate();
      else {
        const pending = await store.pendingMigrations();
        if (pending.length) throw new Error(`the schema is not current (pending: ${pending.map((m) => m.name).join(", ")})`);
      }
    } catch (cause) {
      await store.close();
      throw new CLIError(
        `cannot open the database ${shown}: ${redactSecrets((cause as Error).message, db)}`,
        migrate
          ? "check the --db URL, that Postgres is up, and that no newer Stepwise uses it"
          : "run `stepwise migrate --db <url>` first, or start without --no-migrate",
      );
    }
    return store.notifier ? { store, notifier: store.notifier, realtime: store.realtime } : { store, realtime: store.realtime };
  }
  if (!migrate) throw new CLIError("--no-migrate needs a Postgres database", "a SQLite file is always migrated when it is opened");
  const store = new SqliteStore({ filename: db });
  try {
    await store.migrate();
  } catch (cause) {
    throw new CLIError(`cannot open the database ${shown}: ${(cause as Error).message}`, "check the --db path and that no other Stepwise version uses it");
  }
  return { store };
}

export async function runServer(options: RunServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? consoleLogger;
  const log = (line: string) => logger.info(`stepwise ${options.mode}: ${line}`);
  if (options.mode === "start" && options.dashboardToken && [options.signingKey, options.signingKeyFallback].includes(options.dashboardToken)) {
    throw new CLIError("the dashboard token must not be the signing key", "pick another secret for --dashboard-token, or omit it to have one generated");
  }
  const { store, notifier, realtime } = await openStore(options.db, options.migrate !== false, logger);
  const metrics = createMetrics();
  const endpoints = new DurableEndpoints({
    serverKind: options.mode === "dev" ? "dev" : "cloud",
    ...(options.mode === "start" && options.signingKey ? { signingKey: options.signingKey } : {}),
    ...(options.endpointOrigins || options.mode === "start" ? { allowedOrigins: options.endpointOrigins ?? [] } : {}),
  });
  // OpenTelemetry traces, when the OTEL_* variables configure an exporter (docs/operations.md, "Traces")
  const tracing = await startTracing();
  if (tracing.enabled) log("tracing: exporting spans as the OTEL_* variables configure");
  const engine = new Engine({
    durableEndpoints: endpoints.driver,
    store,
    logger,
    metrics: metrics.hooks,
    ...(tracing.enabled ? { tracing: true } : {}),
    ...(options.drainTimeoutMs !== undefined ? { closeTimeoutMs: options.drainTimeoutMs } : {}),
    ...(notifier ? { notifier } : {}),
    ...(realtime ? { realtime } : {}),
    ...(options.retryDelayScale !== undefined ? { retryDelayScale: options.retryDelayScale } : {}),
    ...(options.appOutage ? { appOutage: options.appOutage } : {}),
    ...(options.gateway ? { gateway: options.gateway } : {}),
    ...(options.retention !== undefined ? { retention: options.retention } : {}),
  });
  if (options.inProcess)
    engine.register(
      options.inProcess.client ? { client: options.inProcess.client, functions: options.inProcess.functions } : { functions: options.inProcess.functions },
    );
  let dashboardToken = options.dashboardToken;
  if (options.mode === "start" && !dashboardToken) {
    dashboardToken = randomSecret("swd_");
    log(`dashboard secret (shown once; pass --dashboard-token or STEPWISE_DASHBOARD_TOKEN to choose one): ${dashboardToken}`);
  }
  const server = createServer({
    engine,
    logger,
    mode: options.mode,
    metrics,
    endpoints,
    ...(options.metricsPublic ? { metricsPublic: true } : {}),
    ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    ...(options.signingKeyFallback ? { signingKeyFallback: options.signingKeyFallback } : {}),
    ...(options.eventKey ? { eventKey: options.eventKey } : {}),
    ...(options.dashboard !== false && dashboardDir() ? { dashboardDir: dashboardDir() as string } : {}),
    ...(options.mode === "start" && dashboardToken ? { dashboardToken } : {}),
    ...(options.mode === "start" ? { tokens: new TokenStore(tokenFileForDb(options.db)) } : {}),
    ...(options.mode === "dev" ? { allowedHosts: devAllowedHosts(options.host) } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
  });
  if (options.logRuns !== false) {
    engine.onRunStarted((runId, functionId) => log(`▶ ${functionId} started (run ${runId})`));
    engine.onRunEnded((runId, status) => {
      void engine.getRun(runId).then((run) => {
        const took = run?.startedAt && run.endedAt ? ` in ${run.endedAt - run.startedAt} ms` : "";
        const why = run?.error ? ` — ${run.error.name}: ${run.error.message}` : "";
        log(`${status === "Completed" ? "✓" : "✗"} ${run?.functionId ?? "?"} ${status}${took} (run ${runId})${why}`);
      });
    });
  }
  // apps synced through other nodes on this database (and by this one before a restart),
  // registered before the engine claims anything: a call claimed for a function not yet
  // registered would be put back for a minute
  await server.apps.refresh();
  await server.connect.restore();
  await engine.start();
  const stopRefreshingApps = server.apps.startRefreshing(options.appsRefreshMs);
  const stopRefreshingConnect = server.connect.startRefreshing(options.appsRefreshMs);
  const stopRefreshing = () => {
    stopRefreshingApps();
    stopRefreshingConnect();
  };
  const host = options.host ?? "127.0.0.1";
  const http = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: server.app.fetch, port: options.port, hostname: host }, () => resolve(s));
    s.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new CLIError(`port ${options.port} is already in use`, "stop the other process or pass --port <n>") : error),
    );
  });
  // Connect workers' WebSockets (GET /v0/connect/gateway), realtime subscribers' (GET /v1/realtime/connect)
  http.on("upgrade", (req, socket, head) => server.connect.handleUpgrade(req, socket, head, () => server.realtime.handleUpgrade(req, socket, head)));
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  log(`listening on ${url} (database ${redactUrl(options.db)})${dashboardDir() && options.dashboard !== false ? ` — dashboard at ${url}/` : ""}`);
  const syncing = startSyncing(server.apps, options.urls ?? [], log, (line) => logger.warn(`stepwise ${options.mode}: ${line}`));
  await syncing.ready;
  const stopDiscovery = options.discovery
    ? startDiscovery(
        server.apps,
        defaultDiscoveryUrls.filter((u) => !(options.urls ?? []).includes(u)),
        log,
      )
    : () => {};
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stopDiscovery();
      stopRefreshing();
      syncing.stop();
      // drain first, still serving: /ready answers 503 at once (a load balancer stops sending
      // here), no new Connect workers are taken, calls in flight (HTTP and Connect) finish up to
      // drainTimeoutMs, the rest stay leased for other nodes
      await server.connect.stopAccepting();
      log("draining: claiming no new work, waiting for calls in flight");
      const left = await engine.drain();
      if (left === 0) log("drained: every call in flight finished");
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
      // idle keep-alive sockets now; long-lived ones (the live stream) shortly after
      if ("closeIdleConnections" in http) http.closeIdleConnections();
      setTimeout(() => {
        if ("closeAllConnections" in http) http.closeAllConnections();
      }, 1_000).unref();
      server.realtime.close();
      await engine.close();
      await server.connect.close();
      await httpClosed;
      await tracing.shutdown();
      log("stopped");
    })();
    return closing;
  };
  return { engine, server, url, drainTimeoutMs: options.drainTimeoutMs ?? 10_000, close };
}
