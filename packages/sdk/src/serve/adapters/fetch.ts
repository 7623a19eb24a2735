/**
 * @module adapters/fetch
 * `serve()` for any runtime with the web Fetch API (Deno, Bun, Cloudflare Workers,
 * Node 20's `Request`/`Response`): a `(Request) => Promise<Response>` handler.
 *
 * @example
 * import { serve } from "stepwise/fetch";
 * export default { fetch: serve({ client, functions: [hello] }) };
 */
import { createServeHandler, type ServeOptions, type ServeRequest, type ServeResponse } from "../handler.ts";

export type AdapterOptions = Omit<ServeOptions, "framework">;

/** Reads a web `Request` into the neutral request shape. */
export async function fromWebRequest(request: Request): Promise<ServeRequest> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => {
    headers[key.toLowerCase()] = value;
  });
  const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
  return { method: request.method, url: request.url, headers, body };
}

/** Writes the neutral response as a web `Response`. */
export function toWebResponse(response: ServeResponse): Response {
  return new Response(response.body === "" && response.status === 204 ? null : response.body, { status: response.status, headers: response.headers });
}

/** A fetch handler for `options.framework` (used by the Next.js and Hono adapters too). */
export function createFetchHandler(options: ServeOptions): (request: Request) => Promise<Response> {
  const handler = createServeHandler(options);
  return async (request) => toWebResponse(await handler.handle(await fromWebRequest(request)));
}

export function serve(options: AdapterOptions): (request: Request) => Promise<Response> {
  return createFetchHandler({ ...options, framework: "fetch" });
}
