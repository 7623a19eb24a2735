/**
 * @module handler
 * The framework-neutral serve handler: one endpoint that the server (Stepwise's or
 * Inngest's) calls to inspect the app (`GET`), to have it sync (`PUT`) and to run
 * functions (`POST ?fnId=&stepId=`), speaking the Inngest protocol as the official SDK
 * v4 does (inngest-protocol.md §1-8). Framework adapters only translate requests and
 * responses; everything else happens here.
 *
 * Modes: in dev mode (`isDev`, or `INNGEST_DEV`) nothing is verified. In cloud mode a
 * signing key is required; `GET` and `POST` must carry a valid `x-inngest-signature`
 * (401 otherwise), and responses to verified requests are signed.
 */
import { context, propagation } from "@opentelemetry/api";
import type { FunctionHandle } from "@stepwise/protocol";
import { serializeError } from "@stepwise/protocol";
import type { Stepwise } from "../client.ts";
import { EventValidationError } from "../errors.ts";
import { type Connection, type ConnectionOptions, type Env, envVars, parseBoolean } from "../http/env.ts";
import { executionVersion, sdkHeaders } from "../http/sdk-info.ts";
import { CallRequestError, loadFromApi, parseCallRequest, toExecutionInput } from "./call-request.ts";
import { type EncodedResponse, internalError, toCallResponse } from "./call-response.ts";
import { checkpointer } from "./checkpoint.ts";
import { type FunctionDefinition, toFunctionDefinition } from "./function-definition.ts";
import { introspection } from "./introspection.ts";
import { signResponse, verifyRequest } from "./signature.ts";
import { inBandSyncBody, registerOutOfBand } from "./sync.ts";
import { findUnexpectedEvent } from "./triggers.ts";

/** A request as adapters hand it over: header names lower-case, body as text. */
export interface ServeRequest {
  method: string;
  /** Absolute URL as the app received it. */
  url: string;
  headers: Record<string, string | undefined>;
  body: string;
}

export interface ServeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ServeOptions extends ConnectionOptions {
  client: Stepwise;
  /** The functions this endpoint serves (their `onFailure` handlers are served with them). */
  functions: readonly FunctionHandle[];
  /** Origin reported when syncing, e.g. `https://app.example.com`. (Default: `INNGEST_SERVE_ORIGIN`/`INNGEST_SERVE_HOST`, else the request's.) */
  serveHost?: string;
  /** Path reported when syncing, e.g. `/api/inngest`. (Default: `INNGEST_SERVE_PATH`, else the request's.) */
  servePath?: string;
  /** Framework name sent as `x-inngest-framework`; set by adapters. */
  framework?: string;
  /** Environment to read `INNGEST_*` variables from. (Default: `process.env`.) */
  env?: Env;
}

export interface ServeHandler {
  handle(request: ServeRequest): Promise<ServeResponse>;
}

const json = "application/json";

function allFunctions(functions: readonly FunctionHandle[]): Map<string, FunctionHandle> {
  const byId = new Map<string, FunctionHandle>();
  for (const fn of functions.flatMap((f) => [f, ...(f.companions ?? [])])) {
    if (!fn || typeof fn.execute !== "function" || !fn.config) {
      throw new TypeError(`serve(): "functions" must hold functions made by createFunction, received ${JSON.stringify(fn)}`);
    }
    if (byId.has(fn.config.id)) throw new TypeError(`serve(): function id "${fn.config.id}" is served twice; function ids must be unique in an app`);
    byId.set(fn.config.id, fn);
  }
  return byId;
}

export function createServeHandler(options: ServeOptions): ServeHandler {
  const { client, framework = "stepwise" } = options;
  if (!client || typeof client.connection !== "function") throw new TypeError(`serve(): "client" must be a Stepwise client, received ${typeof client}`);
  const functions = allFunctions(options.functions ?? []);
  const env = options.env ?? process.env;

  const connection = (): Connection =>
    client.connection({
      isDev: options.isDev,
      baseUrl: options.baseUrl,
      eventKey: options.eventKey,
      signingKey: options.signingKey,
      signingKeyFallback: options.signingKeyFallback,
    });
  const serveOrigin = () => options.serveHost ?? env[envVars.serveOrigin] ?? env[envVars.serveHost];
  const servePath = () => options.servePath ?? env[envVars.servePath];

  /** The app's URL as the server should call it (with `deployId` kept, as the official SDK does). */
  function serveUrl(requestUrl: URL): URL {
    const originText = serveOrigin();
    const origin = originText ? (/^[a-z]+:\/\//i.test(originText) ? originText : `${requestUrl.protocol}//${originText}`) : requestUrl.origin;
    const url = new URL(servePath() ?? requestUrl.pathname, origin);
    const deployId = requestUrl.searchParams.get("deployId");
    if (deployId) url.searchParams.set("deployId", deployId);
    return url;
  }

  const definitions = (url: URL): FunctionDefinition[] => [...functions.values()].map((fn) => toFunctionDefinition(fn.config, url));

  const inspection = (conn: Connection, authenticated: boolean) =>
    introspection(
      { appId: client.id, connection: conn, functionCount: functions.size, framework, serveOrigin: serveOrigin() ?? null, servePath: servePath() ?? null },
      authenticated,
    );

  function respond(status: number, body: string, headers: Record<string, string> = {}, signingKey?: string): ServeResponse {
    const out: Record<string, string> = { "content-type": json, ...sdkHeaders(framework), "x-inngest-req-version": executionVersion, ...headers };
    if (signingKey) out["x-inngest-signature"] = signResponse(body, signingKey);
    return { status, headers: out, body };
  }
  /** Failures of authentication carry only `x-inngest-sdk-handled`, as in the official SDK. */
  const bare = (status: number, body: unknown): ServeResponse => ({
    status,
    headers: { "content-type": json, "x-inngest-sdk-handled": "true" },
    body: JSON.stringify(body),
  });
  const unauthorized = () => bare(401, { message: "Unauthorized" });

  async function call(request: ServeRequest, url: URL, conn: Connection): Promise<EncodedResponse> {
    const fnId = url.searchParams.get("fnId");
    if (!fnId) return internalError("No function ID found in async request");
    const stepId = url.searchParams.get("stepId") ?? request.headers["x-inngest-step-id"] ?? "step";
    let parsed: ReturnType<typeof parseCallRequest>;
    try {
      parsed = parseCallRequest(request.body);
    } catch (error) {
      return internalError((error as Error).message, error);
    }
    const fn = functions.get(fnId);
    if (!fn) return internalError(`Function "${fnId}" was not found in this app; is the app synced correctly?`);
    if (parsed.ctx.use_api) {
      try {
        parsed = await loadFromApi(conn, parsed);
      } catch (error) {
        return internalError(error instanceof CallRequestError ? error.message : `Failed to retrieve run state: ${(error as Error).message}`, error);
      }
    }
    const input = toExecutionInput(parsed, stepId);
    const { fn_id: serverFnId, qi_id: queueItemId } = parsed.ctx;
    if (typeof serverFnId === "string" && typeof queueItemId === "string" && stepId === "step" && !input.disableImmediateExecution) {
      input.checkpoint = checkpointer(conn, {
        runId: input.runId,
        fnId: serverFnId,
        queueItemId,
        requestId: request.headers["x-request-id"],
        startedAt: Date.now(),
        framework,
      });
    }
    const unexpected = findUnexpectedEvent(fn.config, input.events);
    if (unexpected !== undefined) {
      return toCallResponse({
        type: "function-rejected",
        error: serializeError(new EventValidationError(`Event not found in triggers: ${unexpected}`)),
        retriable: false,
      });
    }
    try {
      // the server's `traceparent` (the run's call span): the app's own spans join the run's trace
      const traced = request.headers.traceparent ? propagation.extract(context.active(), request.headers) : undefined;
      return toCallResponse(await (traced ? context.with(traced, () => fn.execute(input)) : fn.execute(input)));
    } catch (error) {
      client.logger.error(`serve: function "${fnId}" could not run (run ${input.runId})`, error);
      return internalError(`Function "${fnId}" could not run: ${(error as Error).message}`, error);
    }
  }

  async function sync(request: ServeRequest, url: URL, conn: Connection): Promise<ServeResponse> {
    const inBand = request.headers["x-inngest-sync-kind"] === "in_band" && parseBoolean(env[envVars.allowInBandSync]) !== false;
    const needsSignature = conn.mode === "cloud" && (inBand || parseBoolean(env[envVars.enableUnauthedSync]) === false);
    const key =
      conn.mode === "cloud" ? verifyRequest(request.headers["x-inngest-signature"], request.body, [conn.signingKey, conn.signingKeyFallback]) : undefined;
    if (needsSignature && !key) return unauthorized();
    if (inBand) {
      let body: unknown;
      try {
        body = JSON.parse(request.body);
      } catch {
        body = undefined;
      }
      const keys = typeof body === "object" && body !== null ? Object.keys(body) : [];
      const target = (body as { url?: unknown } | undefined)?.url;
      if (keys.length !== 1 || typeof target !== "string") {
        return respond(
          400,
          JSON.stringify({
            code: "invalid_request",
            message: `in-band sync: expected a body of exactly {"url": "<app url>"}, received ${request.body.slice(0, 200) || "nothing"}`,
          }),
        );
      }
      let targetUrl: URL;
      try {
        targetUrl = new URL(target);
      } catch {
        return respond(400, JSON.stringify({ code: "invalid_request", message: `in-band sync: "url" is not a URL: ${JSON.stringify(target)}` }));
      }
      const authenticated = key !== undefined;
      const body2 = inBandSyncBody({
        appId: client.id,
        framework,
        connection: conn,
        url: target,
        functions: definitions(targetUrl),
        inspection: inspection(conn, authenticated),
        authenticated,
      });
      return respond(200, JSON.stringify(body2), { "x-inngest-sync-kind": "in_band" }, key);
    }
    const outcome = await registerOutOfBand({
      connection: conn,
      appId: client.id,
      framework,
      serveUrl: serveUrl(url),
      functions: definitions(serveUrl(url)),
      ...(url.searchParams.get("deployId") ? { deployId: url.searchParams.get("deployId") as string } : {}),
      ...(request.headers["x-inngest-server-kind"] ? { serverKind: request.headers["x-inngest-server-kind"] } : {}),
    });
    if (outcome.status >= 300) client.logger.warn(`serve: app "${client.id}" failed to sync: ${outcome.body.message}`);
    return respond(outcome.status, JSON.stringify(outcome.body), { "x-inngest-sync-kind": "out_of_band" }, key);
  }

  async function handle(request: ServeRequest): Promise<ServeResponse> {
    const method = request.method.toUpperCase();
    const url = new URL(request.url);
    const conn = connection();
    if (conn.mode === "cloud" && !conn.signingKey) {
      client.logger.error(
        `serve: app "${client.id}" is in cloud mode without a signing key; set ${envVars.signingKey} (or pass signingKey), or ${envVars.dev}=1 for dev mode`,
      );
      return bare(500, { code: "internal_server_error" });
    }
    const verify = () =>
      conn.mode === "dev" ? "" : verifyRequest(request.headers["x-inngest-signature"], request.body, [conn.signingKey, conn.signingKeyFallback]);
    switch (method) {
      case "GET": {
        const key = verify();
        if (key === undefined) return unauthorized();
        return respond(200, JSON.stringify(inspection(conn, key !== "")), {}, key || undefined);
      }
      case "PUT":
        return sync(request, url, conn);
      case "POST": {
        const key = verify();
        if (key === undefined) return unauthorized();
        const probe = url.searchParams.get("probe");
        if (probe !== null) {
          return probe === "trust"
            ? respond(200, "", {}, key || undefined)
            : respond(400, JSON.stringify({ code: "invalid_request", message: `unknown probe ${JSON.stringify(probe)}; expected "trust"` }));
        }
        const encoded = await call(request, url, conn);
        return respond(encoded.status, encoded.body, encoded.headers, key || undefined);
      }
      default:
        return respond(405, JSON.stringify({ message: "Method not allowed" }));
    }
  }

  return { handle };
}
