/**
 * @module env
 * Where a client or a serve handler talks to a server, resolved exactly as the official
 * SDK does (inngest-protocol.md §2): options first, then the environment variables
 * below, then the dev or cloud defaults. Every environment variable the SDK reads is
 * named here and nowhere else; values are read on each call, so tests may change them.
 */

/** The environment variables the SDK reads. */
export const envVars = {
  /** `1`/`true` → dev mode, `0`/`false` → cloud mode, a URL → dev mode against that server. */
  dev: "INNGEST_DEV",
  /** API and event base together. */
  baseUrl: "INNGEST_BASE_URL",
  apiBaseUrl: "INNGEST_API_BASE_URL",
  eventApiBaseUrl: "INNGEST_EVENT_API_BASE_URL",
  signingKey: "INNGEST_SIGNING_KEY",
  signingKeyFallback: "INNGEST_SIGNING_KEY_FALLBACK",
  eventKey: "INNGEST_EVENT_KEY",
  /** Origin (`https://app.example.com`) the app reports when it syncs. `INNGEST_SERVE_HOST` is its older name. */
  serveOrigin: "INNGEST_SERVE_ORIGIN",
  serveHost: "INNGEST_SERVE_HOST",
  /** Path (`/api/inngest`) the app reports when it syncs. */
  servePath: "INNGEST_SERVE_PATH",
  /** Sent as `x-inngest-env` on outgoing requests. */
  env: "INNGEST_ENV",
  /** `false`/`0` refuses in-band sync. */
  allowInBandSync: "INNGEST_ALLOW_IN_BAND_SYNC",
  /** `false`/`0` makes a sync (`PUT`) in cloud mode need a valid signature too. */
  enableUnauthedSync: "INNGEST_ENABLE_UNAUTHED_SYNC",
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

export const devServerUrl = "http://localhost:8288/";
export const cloudApiUrl = "https://api.inngest.com/";
export const cloudEventUrl = "https://inn.gs/";
/** The event key the SDK uses in dev mode when none is configured. */
export const devEventKey = "NO_EVENT_KEY_SET";

/** Connection options shared by the client and `serve()`. */
export interface ConnectionOptions {
  /** Dev mode: no signatures, local defaults. (Default: `INNGEST_DEV`, else cloud mode.) */
  isDev?: boolean;
  /** Base URL of the server's API and event endpoints. (Default: env, then `http://localhost:8288` in dev.) */
  baseUrl?: string;
  /** Key for `POST /e/<key>`. (Default: `INNGEST_EVENT_KEY`; `NO_EVENT_KEY_SET` in dev.) */
  eventKey?: string;
  /** Signing key `signkey-<env>-<hex>`. (Default: `INNGEST_SIGNING_KEY`.) */
  signingKey?: string;
  /** Previous signing key, accepted during rotation. (Default: `INNGEST_SIGNING_KEY_FALLBACK`.) */
  signingKeyFallback?: string;
}

export interface Connection {
  mode: "dev" | "cloud";
  /** Base for `/fn/register`, `/v0/runs/...` (absolute paths: a path on it is dropped). */
  apiBaseUrl: string;
  /** Base for `e/<eventKey>` (relative: a path on it survives when it ends with `/`). */
  eventBaseUrl: string;
  /** The configured event key, if any. */
  eventKey: string | undefined;
  signingKey: string | undefined;
  signingKeyFallback: string | undefined;
  /** `x-inngest-env` value, if any. */
  env: string | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** `"1"`/`"true"` → true, `"0"`/`"false"` → false, anything else → undefined. */
export function parseBoolean(value: string | undefined): boolean | undefined {
  const text = value?.trim().toLowerCase();
  if (text === "1" || text === "true") return true;
  if (text === "0" || text === "false") return false;
  return undefined;
}

/** Reads `INNGEST_DEV`: a boolean, or a URL (bare `host:port` allowed) meaning dev mode against it. */
function readDev(value: string | undefined): { dev?: boolean; url?: string } {
  const flag = parseBoolean(value);
  if (flag !== undefined) return { dev: flag };
  const text = nonEmpty(value);
  if (!text) return {};
  try {
    return { dev: true, url: new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`).href };
  } catch {
    return {};
  }
}

/** Resolves mode, bases and keys from options, then `env`, then defaults. */
export function resolveConnection(options: ConnectionOptions = {}, env: Env = process.env): Connection {
  const fromEnv = readDev(env[envVars.dev]);
  const isDev = options.isDev ?? fromEnv.dev ?? false;
  const fallbackBase = fromEnv.url ?? (isDev ? devServerUrl : undefined);
  const base = nonEmpty(options.baseUrl);
  return {
    mode: isDev ? "dev" : "cloud",
    apiBaseUrl: base ?? nonEmpty(env[envVars.apiBaseUrl]) ?? nonEmpty(env[envVars.baseUrl]) ?? fallbackBase ?? cloudApiUrl,
    eventBaseUrl: base ?? nonEmpty(env[envVars.eventApiBaseUrl]) ?? nonEmpty(env[envVars.baseUrl]) ?? fallbackBase ?? cloudEventUrl,
    eventKey: nonEmpty(options.eventKey) ?? nonEmpty(env[envVars.eventKey]),
    signingKey: nonEmpty(options.signingKey) ?? nonEmpty(env[envVars.signingKey]),
    signingKeyFallback: nonEmpty(options.signingKeyFallback) ?? nonEmpty(env[envVars.signingKeyFallback]),
    env: nonEmpty(env[envVars.env]),
  };
}
