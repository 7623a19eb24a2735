/**
 * @module api
 * Authenticated requests from the SDK to the server's API (`/fn/register`,
 * `/v0/runs/...`): `Authorization: Bearer <hashed signing key>`, repeated once with the
 * fallback key after a 401 or 403, as the official SDK does (inngest-protocol.md §4.2).
 */
import { hashSigningKey } from "@stepwise/protocol";
import type { Connection } from "./env.ts";
import { sdkHeaders } from "./sdk-info.ts";

export interface ApiRequest {
  method: "GET" | "POST";
  /** Absolute path on the API base, e.g. `/fn/register`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  framework?: string;
}

/** The URL of an API path: absolute, so a path on the base is dropped (as in the official SDK). */
export function apiUrl(connection: Connection, path: string, query: Record<string, string> = {}): URL {
  const url = new URL(path, connection.apiBaseUrl);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url;
}

/** Sends an API request; network failures reject with an error naming the URL. */
export async function callApi(connection: Connection, request: ApiRequest): Promise<Response> {
  const url = apiUrl(connection, request.path, request.query);
  const send = (key: string | undefined) =>
    fetch(url, {
      method: request.method,
      headers: {
        "content-type": "application/json",
        ...sdkHeaders(request.framework),
        ...(connection.env ? { "x-inngest-env": connection.env } : {}),
        ...(key ? { authorization: `Bearer ${hashSigningKey(key)}` } : {}),
        ...request.headers,
      },
      ...(request.body !== undefined ? { body: request.body } : {}),
      redirect: "follow",
    });
  let response: Response;
  try {
    response = await send(connection.signingKey);
    if ((response.status === 401 || response.status === 403) && connection.signingKeyFallback) {
      response = await send(connection.signingKeyFallback);
    }
  } catch (cause) {
    throw new Error(`${request.method} ${url.href} failed: ${(cause as Error).message}`, { cause });
  }
  return response;
}
