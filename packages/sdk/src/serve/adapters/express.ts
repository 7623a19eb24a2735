/**
 * @module adapters/express
 * `serve()` for Express (4 or 5): a handler for `app.use(path, ...)`. It works with or
 * without `express.json()` in front (an already parsed body is used).
 *
 * @example
 * import { serve } from "stepwise/express";
 * app.use(express.json());
 * app.use("/api/inngest", serve({ client, functions: [hello] }));
 */
import type { NextFunction, Request, Response } from "express";
import { createServeHandler } from "../handler.ts";
import type { AdapterOptions } from "./fetch.ts";
import { bodyText, fromNodeRequest, writeNodeResponse } from "./node.ts";

export type { AdapterOptions } from "./fetch.ts";

export function serve(options: AdapterOptions): (req: Request, res: Response, next?: NextFunction) => Promise<void> {
  const handler = createServeHandler({ ...options, framework: "express" });
  return async (req, res, next) => {
    try {
      // `originalUrl` keeps the mount path that `app.use(path, ...)` strips from `url`.
      const request = fromNodeRequest(req, await bodyText(req, req.body), req.originalUrl ?? req.url);
      writeNodeResponse(res, await handler.handle(request));
    } catch (error) {
      if (next) next(error);
      else throw error;
    }
  };
}
