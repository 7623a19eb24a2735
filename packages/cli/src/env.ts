/**
 * @module env
 * Every environment variable the CLI reads, in one place (listed in `stepwise --help`).
 * Stepwise names win; Inngest's names are accepted so existing setups carry over.
 */
export const envKeys = {
  signingKey: ["STEPWISE_SIGNING_KEY", "INNGEST_SIGNING_KEY"],
  signingKeyFallback: ["STEPWISE_SIGNING_KEY_FALLBACK", "INNGEST_SIGNING_KEY_FALLBACK"],
  eventKey: ["STEPWISE_EVENT_KEY", "INNGEST_EVENT_KEY"],
  port: ["STEPWISE_PORT", "PORT"],
  /** A SQLite file path or a postgres:// URL; `DATABASE_URL` as most hosts name it. */
  db: ["STEPWISE_DB", "DATABASE_URL"],
  dashboardToken: ["STEPWISE_DASHBOARD_TOKEN"],
  appOutageBudget: ["STEPWISE_APP_OUTAGE_BUDGET"],
  /** `1` or `true`: start serves /metrics without a credential (as --metrics-public). */
  metricsPublic: ["STEPWISE_METRICS_PUBLIC"],
  /** Milliseconds in-flight calls may run after SIGTERM (as --drain-timeout). */
  drainTimeout: ["STEPWISE_DRAIN_TIMEOUT_MS"],
  /** Where other nodes reach this one, for Connect calls forwarded between nodes (as --node-url). */
  nodeUrl: ["STEPWISE_NODE_URL"],
  /** The secret node-to-node forwards are signed with (start: the signing key unless set). Environment only: never on a command line. */
  nodeSecret: ["STEPWISE_NODE_SECRET"],
  gatewayTimeout: ["STEPWISE_GATEWAY_TIMEOUT_MS"],
  /** Comma-separated origins durable endpoints may be re-entered at (as --endpoint-origins). */
  endpointOrigins: ["STEPWISE_ENDPOINT_ORIGINS"],
  /** How long finished runs and events are kept (as --retention). */
  retention: ["STEPWISE_RETENTION"],
} as const;

export function readEnv(names: readonly string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}
