/**
 * @module adapters/fastify
 * `serve()` for Fastify: a route handler, and `fastifyPlugin` registering GET, PUT and
 * POST on one path. Fastify parses JSON bodies itself; the parsed body is used.
 *
 * @example
 * import { fastifyPlugin, serve } from "stepwise/fastify";
 * app.route({ method: ["GET", "POST", "PUT"], url: "/api/inngest", handler: serve({ client, functions }) });
 * // or: app.register(fastifyPlugin, { client, functions, path: "/api/inngest" });
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createServeHandler } from "../handler.ts";
import type { AdapterOptions } from "./fetch.ts";
import { bodyText, fromNodeRequest } from "./node.ts";

export type { AdapterOptions } from "./fetch.ts";

export type FastifyRouteHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function serve(options: AdapterOptions): FastifyRouteHandler {
  const handler = createServeHandler({ ...options, framework: "fastify" });
  return async (request, reply) => {
    const body = await bodyText(request.raw, request.body);
    const response = await handler.handle(fromNodeRequest(request.raw, body, request.url));
    await reply.code(response.status).headers(response.headers).send(response.body);
  };
}

export interface FastifyPluginOptions extends AdapterOptions {
  /** Route path. (Default: "/api/inngest".) */
  path?: string;
}

/** `app.register(fastifyPlugin, { client, functions, path })`. */
export async function fastifyPlugin(fastify: FastifyInstance, options: FastifyPluginOptions): Promise<void> {
  const { path = "/api/inngest", ...rest } = options;
  fastify.route({ method: ["GET", "POST", "PUT"], url: path, handler: serve(rest) });
}
