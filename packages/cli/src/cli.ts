/**
 * @module cli
 * `stepwise <command> [flags]`: declares commands and flags only (strict parsing); the
 * work is in run-server.ts and migrate.ts. One top-level handler prints CLIError
 * messages and hints.
 */
import { parseArgs } from "node:util";
import { type RetentionOptions, type RetentionPeriod, retentionPolicy } from "@stepwise/engine";
import { parseDuration } from "@stepwise/protocol";
import { TokenStore } from "@stepwise/server";
import { isPostgresUrl } from "@stepwise/store-postgres";
import { envKeys, readEnv } from "./env.ts";
import { CLIError } from "./errors.ts";
import { migrateCommand } from "./migrate.ts";
import { type RunningServer, runServer, tokenFileForDb } from "./run-server.ts";

export const helpText = `Usage: stepwise <command> [flags]

Commands:
  dev     Development server on embedded SQLite (or --db postgres://…), open on loopback;
          syncs apps and auto-discovers common local URLs (e.g. http://localhost:3000/api/inngest).
  start   Production server: signing and event keys required. Several start processes
          may share one Postgres database (--db postgres://…).
  migrate Apply the database's pending schema migrations and exit (--db <path|url>);
          --print shows their SQL instead, applying nothing.
  tokens  API tokens for start: tokens create [--name <n>] | tokens list | tokens revoke <id>
          (--db: the database the server uses; tokens live in <db>.tokens.json, or in
          ./stepwise.tokens.json for a Postgres database).

Flags:
  -u, --url <url>        App serve URL to sync (repeatable).
  -p, --port <n>         HTTP port (default 8288).
      --host <addr>      Interface to listen on (default 127.0.0.1).
      --db <path|url>    SQLite database file (default ./.stepwise/dev.db for dev, ./stepwise.db for
                         start), or a Postgres URL: postgres://user:password@host:5432/db
                         (the password is never printed).
      --no-migrate       dev, start: do not apply migrations on start (Postgres: the schema must
                         be current; run \`stepwise migrate\` first).
      --print            migrate: print the pending migrations' SQL, apply nothing.
      --no-discovery     dev: do not probe common local URLs.
      --signing-key <k>  start: signkey-<env>-<hex>; calls to apps are signed with it.
      --event-key <k>    start: the key senders put in POST /e/<key>.
      --dashboard-token <t>  start: the dashboard secret (login form, or a bearer); never the signing
                         key. Default: a random one, printed once at start.
      --app-outage-budget <d>  How long a run waits for an unreachable app (e.g. 30m, 24h, or ms)
                         before it fails; waiting spends none of its retries (default 24h).
      --metrics-public   start: serve GET /metrics without a credential (default: it needs one,
                         like /v1; dev serves it openly on loopback).
      --drain-timeout <ms>  dev, start: on SIGTERM/SIGINT, how long calls in flight may finish
                         before the process exits leaving them leased (default 10000).
      --node-url <url>   dev, start on a shared Postgres: where the other nodes reach this one
                         (e.g. http://10.0.0.5:8288); Connect calls claimed by a node without
                         the app's worker are forwarded to the node holding it. Needs a node
                         secret: ${envKeys.nodeSecret[0]} (start: the signing key by default).
      --gateway-timeout <ms>  dev, start: longest one step.fetch / step.ai.infer request the server
                         makes may take; a timeout is a step error, retried (default 120000).
      --endpoint-origins <o,...>  Origins (https://api.example.com) where durable endpoints that
                         go async are called back (default: any in dev, none in start).
      --retention <r>    dev, start: how long finished runs and events are kept: a duration for
                         both (e.g. 7d, 12h), runs=<d>,events=<d> to set them apart, or off to keep
                         everything (default 7d; a function's retention.runs overrides runs).
      --name <n>         tokens create: a label for the token.
  -h, --help             Show this help.

Environment:
  ${envKeys.signingKey.join(", ")}   signing key
  ${envKeys.signingKeyFallback.join(", ")}   previous signing key, still accepted
  ${envKeys.eventKey.join(", ")}   event key
  ${envKeys.port.join(", ")}   port
  ${envKeys.db.join(", ")}   database file or Postgres URL
  ${envKeys.dashboardToken.join(", ")}   dashboard token (start)
  ${envKeys.appOutageBudget.join(", ")}   app outage budget (as --app-outage-budget)
  ${envKeys.metricsPublic.join(", ")}   1 or true: as --metrics-public
  ${envKeys.drainTimeout.join(", ")}   as --drain-timeout
  ${envKeys.nodeUrl.join(", ")}   as --node-url
  ${envKeys.nodeSecret.join(", ")}   the secret Connect forwards between nodes are signed with (16+ characters;
                         start: the signing key unless set)
  ${envKeys.gatewayTimeout.join(", ")}   as --gateway-timeout
  ${envKeys.endpointOrigins.join(", ")}   as --endpoint-origins
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_TRACES_EXPORTER
                         any set: export OpenTelemetry traces (OTLP); the other OTEL_*
                         variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_PROTOCOL,
                         OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED, ...) as the OTel SDK reads them
  ${envKeys.retention.join(", ")}   as --retention
`;

/**
 * `--retention` / `STEPWISE_RETENTION`: `7d` (runs and events), `off`, or
 * `runs=3d,events=1d` (either may be `off`); checked as the engine checks it.
 */
export function parseRetention(text: string): RetentionOptions | RetentionPeriod {
  const value = (part: string): RetentionPeriod => {
    const trimmed = part.trim();
    if (trimmed.toLowerCase() === "off") return false;
    return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
  };
  let parsed: RetentionOptions | RetentionPeriod;
  if (text.includes("=")) {
    const options: RetentionOptions = {};
    for (const part of text.split(",")) {
      const [key, given, extra] = part.split("=");
      const name = key?.trim();
      if ((name !== "runs" && name !== "events") || given === undefined || extra !== undefined) {
        throw new CLIError(`--retention: expected runs=<duration>,events=<duration>, received ${JSON.stringify(text)}`, "e.g. --retention runs=3d,events=1d");
      }
      options[name] = value(given);
    }
    parsed = options;
  } else parsed = value(text);
  try {
    retentionPolicy(parsed);
  } catch (cause) {
    throw new CLIError(`--retention: ${(cause as Error).message}`, "e.g. --retention 7d, --retention runs=3d,events=1d, or --retention off");
  }
  return parsed;
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningServer | undefined> {
  const [command, ...rest] = argv;
  if (!command || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(helpText);
    return undefined;
  }
  if (command === "tokens") {
    tokensCommand(rest, env);
    return undefined;
  }
  if (command === "migrate") {
    await migrateCommand(rest, env, helpText);
    return undefined;
  }
  if (command !== "dev" && command !== "start") throw new CLIError(`unknown command ${JSON.stringify(command)}`, "run `stepwise --help` for the commands");
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(rest).values;
  } catch (cause) {
    throw new CLIError((cause as Error).message, "run `stepwise --help` for the flags");
  }
  if (values.help) {
    process.stdout.write(helpText);
    return undefined;
  }
  const portText = values.port ?? readEnv(envKeys.port, env) ?? "8288";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CLIError(`--port: expected a port number, received ${JSON.stringify(portText)}`);
  const urls = values.url ?? [];
  for (const url of urls)
    if (!/^https?:\/\/[^/]+/.test(url))
      throw new CLIError(`--url: expected an http(s) URL such as http://localhost:3000/api/inngest, received ${JSON.stringify(url)}`);
  const signingKey = values["signing-key"] ?? readEnv(envKeys.signingKey, env);
  const signingKeyFallback = readEnv(envKeys.signingKeyFallback, env);
  const eventKey = values["event-key"] ?? readEnv(envKeys.eventKey, env);
  const dashboardToken = values["dashboard-token"] ?? readEnv(envKeys.dashboardToken, env);
  if (command === "start") {
    if (!signingKey) throw new CLIError("stepwise start needs a signing key", `pass --signing-key signkey-prod-<hex> or set ${envKeys.signingKey[0]}`);
    if (!/^signkey-[A-Za-z0-9_]+-[0-9a-fA-F]+$/.test(signingKey)) throw new CLIError("--signing-key: expected signkey-<env>-<hex>, e.g. signkey-prod-0123abcd");
    if (!eventKey) throw new CLIError("stepwise start needs an event key", `pass --event-key <key> or set ${envKeys.eventKey[0]}`);
  }
  const budgetText = values["app-outage-budget"] ?? readEnv(envKeys.appOutageBudget, env);
  let appOutageBudgetMs: number | undefined;
  if (budgetText !== undefined) {
    try {
      appOutageBudgetMs = parseDuration(/^\d+$/.test(budgetText) ? Number(budgetText) : budgetText, "--app-outage-budget");
    } catch (cause) {
      throw new CLIError(`--app-outage-budget: expected a duration such as 30m or 24h, received ${JSON.stringify(budgetText)}`, (cause as Error).message);
    }
  }
  const drainText = values["drain-timeout"] ?? readEnv(envKeys.drainTimeout, env);
  const drainTimeoutMs = drainText === undefined ? undefined : Number(drainText);
  if (drainTimeoutMs !== undefined && (!/^\d+$/.test(drainText ?? "") || !Number.isSafeInteger(drainTimeoutMs))) {
    throw new CLIError(`--drain-timeout: expected milliseconds (a whole number, e.g. 30000), received ${JSON.stringify(drainText)}`);
  }
  const gatewayText = values["gateway-timeout"] ?? readEnv(envKeys.gatewayTimeout, env);
  const gatewayTimeoutMs = gatewayText === undefined ? undefined : Number(gatewayText);
  if (gatewayTimeoutMs !== undefined && (!/^\d+$/.test(gatewayText ?? "") || !Number.isSafeInteger(gatewayTimeoutMs) || gatewayTimeoutMs < 1)) {
    throw new CLIError(`--gateway-timeout: expected milliseconds (a whole number ≥ 1, e.g. 60000), received ${JSON.stringify(gatewayText)}`);
  }
  const retentionText = values.retention ?? readEnv(envKeys.retention, env);
  const retention = retentionText === undefined ? undefined : parseRetention(retentionText);
  const metricsPublicText = readEnv(envKeys.metricsPublic, env);
  if (metricsPublicText !== undefined && !["1", "true", "0", "false"].includes(metricsPublicText.toLowerCase())) {
    throw new CLIError(`${envKeys.metricsPublic[0]}: expected 1, true, 0 or false, received ${JSON.stringify(metricsPublicText)}`);
  }
  const metricsPublic = values["metrics-public"] === true || ["1", "true"].includes(metricsPublicText?.toLowerCase() ?? "");
  const originsText = values["endpoint-origins"] ?? readEnv(envKeys.endpointOrigins, env);
  const endpointOrigins = originsText === undefined ? undefined : parseOrigins(originsText);
  const db = values.db ?? readEnv(envKeys.db, env) ?? (command === "dev" ? ".stepwise/dev.db" : "stepwise.db");
  const nodeUrl = values["node-url"] ?? readEnv(envKeys.nodeUrl, env);
  if (nodeUrl !== undefined && !/^https?:\/\/[^/?#@]+\/?$/.test(nodeUrl)) {
    throw new CLIError(`--node-url: expected this node's http(s) origin such as http://10.0.0.5:8288, received ${JSON.stringify(nodeUrl)}`);
  }
  const nodeSecret = readEnv(envKeys.nodeSecret, env);
  if (nodeSecret !== undefined && nodeSecret.length < 16) throw new CLIError(`${envKeys.nodeSecret[0]}: expected at least 16 characters`);
  if (nodeUrl && command === "dev" && !nodeSecret) {
    throw new CLIError("--node-url needs a node secret in dev mode", `set ${envKeys.nodeSecret[0]} (the same on every node) to sign forwards between nodes`);
  }
  if (command === "dev" && !isPostgresUrl(db)) {
    const { mkdirSync } = await import("node:fs");
    const { dirname } = await import("node:path");
    mkdirSync(dirname(db), { recursive: true });
  }
  const server = await runServer({
    mode: command,
    port,
    db,
    urls,
    discovery: command === "dev" && !values["no-discovery"],
    ...(values["no-migrate"] ? { migrate: false } : {}),
    ...(values.host ? { host: values.host } : {}),
    ...(appOutageBudgetMs !== undefined ? { appOutage: { budgetMs: appOutageBudgetMs } } : {}),
    ...(retention !== undefined ? { retention } : {}),
    ...(command === "start" && signingKey ? { signingKey } : {}),
    ...(command === "start" && signingKeyFallback ? { signingKeyFallback } : {}),
    ...(command === "start" && eventKey ? { eventKey } : {}),
    ...(command === "start" && dashboardToken ? { dashboardToken } : {}),
    ...(command === "start" && metricsPublic ? { metricsPublic: true } : {}),
    ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
    ...(nodeUrl || nodeSecret ? { cluster: { ...(nodeUrl ? { nodeUrl } : {}), ...(nodeSecret ? { nodeSecret } : {}) } } : {}),
    ...(gatewayTimeoutMs !== undefined ? { gateway: { timeoutMs: gatewayTimeoutMs } } : {}),
    ...(endpointOrigins ? { endpointOrigins } : {}),
  });
  return server;
}

/** `--endpoint-origins`: comma-separated `scheme://host[:port]`, each checked. */
function parseOrigins(text: string): string[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      let url: URL | undefined;
      try {
        url = new URL(part);
      } catch {
        // reported below
      }
      if (!url || !["http:", "https:"].includes(url.protocol) || url.origin !== part.replace(/\/$/, "")) {
        throw new CLIError(
          `--endpoint-origins: ${JSON.stringify(part)} is not an origin`,
          "give scheme://host[:port] without a path, e.g. https://api.example.com",
        );
      }
      return url.origin;
    });
}

/** `stepwise tokens create|list|revoke`: edits `<db>.tokens.json`; a running server sees changes at once. */
function tokensCommand(args: string[], env: NodeJS.ProcessEnv) {
  let parsed: ReturnType<typeof parseTokens>;
  try {
    parsed = parseTokens(args);
  } catch (cause) {
    throw new CLIError((cause as Error).message, "run `stepwise --help` for the flags");
  }
  const [action, id] = parsed.positionals;
  const db = parsed.values.db ?? readEnv(envKeys.db, env) ?? "stepwise.db";
  const store = new TokenStore(tokenFileForDb(db));
  if (action === "create") {
    const { token, info } = store.create(parsed.values.name ?? "");
    process.stdout.write(`created token ${info.id} (${info.name}); it is shown only now:\n${token}\n`);
  } else if (action === "list") {
    const tokens = store.list();
    if (!tokens.length) process.stdout.write("no tokens\n");
    for (const t of tokens) process.stdout.write(`${t.id}  ${new Date(t.createdAt).toISOString()}  ${t.name}\n`);
  } else if (action === "revoke") {
    if (!id) throw new CLIError("tokens revoke needs the token id", "run `stepwise tokens list --db <path>` for the ids");
    if (!store.revoke(id)) throw new CLIError(`no token with id ${JSON.stringify(id)}`);
    process.stdout.write(`revoked token ${id}\n`);
  } else {
    throw new CLIError(`tokens: expected create, list or revoke, received ${JSON.stringify(action ?? "")}`, "run `stepwise --help`");
  }
}

function parseTokens(args: string[]) {
  return parseArgs({ args, strict: true, allowPositionals: true, options: { db: { type: "string" }, name: { type: "string" } } });
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: "string", short: "u", multiple: true },
      port: { type: "string", short: "p" },
      host: { type: "string" },
      db: { type: "string" },
      "no-discovery": { type: "boolean" },
      "no-migrate": { type: "boolean" },
      "signing-key": { type: "string" },
      "event-key": { type: "string" },
      "dashboard-token": { type: "string" },
      "app-outage-budget": { type: "string" },
      "metrics-public": { type: "boolean" },
      "drain-timeout": { type: "string" },
      "node-url": { type: "string" },
      "gateway-timeout": { type: "string" },
      "endpoint-origins": { type: "string" },
      retention: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/**
 * On SIGINT or SIGTERM: drains (readiness turns 503, no new claims, calls in flight finish
 * up to the drain timeout, the rest stay leased for other nodes), closes and exits 0. Exits
 * 1 if shutting down takes 5 s past the drain timeout.
 */
export function stopOnSignals(server: RunningServer): void {
  const stop = (signal: string) => {
    process.stderr.write(`\nstepwise: ${signal}, shutting down: draining…\n`);
    const graceMs = server.drainTimeoutMs + 5_000;
    const force = setTimeout(() => {
      process.stderr.write(`stepwise: shutdown took over ${Math.round(graceMs / 1000)} s; calls left leased resume on another node\n`);
      process.exit(1);
    }, graceMs);
    force.unref();
    void server.close().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`stepwise: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

/** Entry point: runs the CLI, stops cleanly on SIGINT/SIGTERM, prints errors with their hint. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  try {
    const server = await runCli(argv);
    if (!server) return;
    stopOnSignals(server);
  } catch (error) {
    if (error instanceof CLIError) {
      process.stderr.write(`stepwise: ${error.message}\n${error.hint ? `  hint: ${error.hint}\n` : ""}`);
      if (process.env.STEPWISE_DEBUG) process.stderr.write(`${error.stack}\n`);
      process.exit(2);
    }
    throw error;
  }
}
