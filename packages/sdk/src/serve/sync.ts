/**
 * @module sync
 * Registering the app's functions with the server (inngest-protocol.md §5). Out of band:
 * the app answers a `PUT` by posting its functions to `{apiBase}/fn/register` and
 * relays the server's verdict (status taken from the reply's JSON `status`, as the
 * official SDK does). In band: the server asked with `x-inngest-sync-kind: in_band`
 * and the whole config goes back in the `PUT` response.
 */
import { callApi } from "../http/api.ts";
import type { Connection } from "../http/env.ts";
import { sdkName, sdkVersion } from "../http/sdk-info.ts";
import type { FunctionDefinition } from "./function-definition.ts";
import { capabilities } from "./introspection.ts";

export interface SyncOutcome {
  status: number;
  body: { message: string; modified: boolean };
}

export interface RegisterParams {
  connection: Connection;
  appId: string;
  framework: string;
  serveUrl: URL;
  functions: FunctionDefinition[];
  deployId?: string;
  /** `x-inngest-server-kind` of the PUT, forwarded as `x-inngest-expected-server-kind`. */
  serverKind?: string;
}

/** `POST /fn/register`, answered as the `PUT` that asked for it. */
export async function registerOutOfBand(params: RegisterParams): Promise<SyncOutcome> {
  const body = {
    url: params.serveUrl.href,
    deployType: "ping",
    framework: params.framework,
    appName: params.appId,
    functions: params.functions,
    sdk: sdkName,
    v: "0.1",
    ...(params.deployId ? { deployId: params.deployId } : {}),
    capabilities,
  };
  let response: Response;
  try {
    response = await callApi(params.connection, {
      method: "POST",
      path: "/fn/register",
      ...(params.deployId ? { query: { deployId: params.deployId } } : {}),
      headers: { "x-inngest-sync-kind": "out_of_band", ...(params.serverKind ? { "x-inngest-expected-server-kind": params.serverKind } : {}) },
      body: JSON.stringify(body),
      framework: params.framework,
    });
  } catch (error) {
    return { status: 500, body: { message: `Failed to register; ${(error as Error).message}`, modified: false } };
  }
  const text = await response.text();
  let reply: { status?: unknown; error?: unknown; modified?: unknown };
  try {
    reply = JSON.parse(text);
  } catch (error) {
    return {
      status: 500,
      body: { message: `Failed to register; ${(error as Error).message}; status code: ${response.status}`, modified: false },
    };
  }
  return {
    status: typeof reply?.status === "number" ? reply.status : 200,
    body: {
      message: typeof reply?.error === "string" ? reply.error : "Successfully registered",
      modified: reply?.modified === true,
    },
  };
}

export interface InBandParams {
  appId: string;
  framework: string;
  connection: Connection;
  url: string;
  functions: FunctionDefinition[];
  inspection: Record<string, unknown>;
  authenticated: boolean;
}

/** The body of an in-band sync response. */
export function inBandSyncBody(params: InBandParams): Record<string, unknown> {
  return {
    app_id: params.appId,
    capabilities,
    env: params.connection.env ?? null,
    framework: params.framework,
    functions: params.functions,
    inspection: params.inspection,
    sdk_author: "stepwise",
    sdk_language: params.authenticated ? "js" : "",
    sdk_version: params.authenticated ? sdkVersion : "",
    sdk: sdkName,
    url: params.url,
  };
}
