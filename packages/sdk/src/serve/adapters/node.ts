/**
 * @module adapters/node
 * `serve()` for `node:http` (and anything built on its request/response objects): a
 * `(req, res)` listener. The helpers below are shared by the Express and Fastify adapters.
 *
 * @example
 * import { createServer } from "node:http";
 * import { serve } from "stepwise/node";
 * createServer(serve({ client, functions: [hello] })).listen(3000);
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServeHandler, type ServeOptions, type ServeRequest, type ServeResponse } from "../handler.ts";
import type { AdapterOptions } from "./fetch.ts";

export type { AdapterOptions } from "./fetch.ts";

/** Header values flattened to strings, names lower-case. */
export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  return out;
}

/** The absolute URL of a request: `x-forwarded-proto` or the socket decides http/https; `host` the origin. */
export function absoluteUrl(path: string, headers: Record<string, string | undefined>, encrypted: boolean): string {
  const proto = headers["x-forwarded-proto"]?.split(",")[0]?.trim() || (encrypted ? "https" : "http");
  const host = headers["x-forwarded-host"]?.split(",")[0]?.trim() || headers.host || "localhost";
  return new URL(path, `${proto}://${host}`).href;
}

/** Reads the whole body as UTF-8 text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The body of a request a framework may already have parsed: parsed JSON is serialized
 * back (signatures cover the canonical JSON, so this verifies the same); raw text or a
 * Buffer is used as is; otherwise the stream is read.
 */
export async function bodyText(req: IncomingMessage, parsed: unknown): Promise<string> {
  if (typeof parsed === "string") return parsed;
  if (Buffer.isBuffer(parsed)) return parsed.toString("utf8");
  if (parsed !== undefined && parsed !== null && !(typeof parsed === "object" && Object.keys(parsed).length === 0 && req.readable)) {
    return JSON.stringify(parsed);
  }
  return req.readable ? readBody(req) : "";
}

export function fromNodeRequest(req: IncomingMessage, body: string, path = req.url ?? "/"): ServeRequest {
  const headers = flattenHeaders(req.headers);
  const encrypted = Boolean((req.socket as { encrypted?: boolean } | undefined)?.encrypted);
  return { method: req.method ?? "GET", url: absoluteUrl(path, headers, encrypted), headers, body };
}

export function writeNodeResponse(res: ServerResponse, response: ServeResponse): void {
  res.writeHead(response.status, response.headers);
  res.end(response.body);
}

/** A `node:http` listener for `options.framework`. */
export function createNodeListener(options: ServeOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const handler = createServeHandler(options);
  return async (req, res) => {
    try {
      writeNodeResponse(res, await handler.handle(fromNodeRequest(req, await readBody(req))));
    } catch (error) {
      options.client.logger.error("serve: could not answer a request", error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `serve: ${(error as Error).message}` }));
    }
  };
}

export function serve(options: AdapterOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return createNodeListener({ ...options, framework: "nodejs" });
}
