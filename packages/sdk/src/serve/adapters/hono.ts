/**
 * @module adapters/hono
 * `serve()` for Hono: a handler for GET, PUT and POST on one path.
 *
 * @example
 * import { serve } from "stepwise/hono";
 * app.on(["GET", "PUT", "POST"], "/api/inngest", serve({ client, functions: [hello] }));
 */
import type { Context } from "hono";
import { type AdapterOptions, createFetchHandler } from "./fetch.ts";

export type { AdapterOptions } from "./fetch.ts";

export function serve(options: AdapterOptions): (c: Context) => Promise<Response> {
  const handle = createFetchHandler({ ...options, framework: "hono" });
  return (c) => handle(c.req.raw);
}
