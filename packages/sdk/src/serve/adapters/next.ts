/**
 * @module adapters/next
 * `serve()` for the Next.js App Router: export its `GET`, `POST` and `PUT` from a
 * route file. Route handlers receive web `Request`s (a `NextRequest` is one), so no
 * Next.js import is needed.
 *
 * @example
 * // app/api/inngest/route.ts
 * import { serve } from "stepwise/next";
 * export const { GET, POST, PUT } = serve({ client, functions: [hello] });
 */
import { type AdapterOptions, createFetchHandler } from "./fetch.ts";

export type { AdapterOptions } from "./fetch.ts";

export interface NextRouteHandlers {
  GET(request: Request): Promise<Response>;
  POST(request: Request): Promise<Response>;
  PUT(request: Request): Promise<Response>;
}

export function serve(options: AdapterOptions): NextRouteHandlers {
  const handle = createFetchHandler({ ...options, framework: "nextjs" });
  return { GET: handle, POST: handle, PUT: handle };
}
