/**
 * @module stepwise/fastify
 * `serve()` (a route handler) and `fastifyPlugin` for Fastify.
 */
export * from "@stepwise/sdk/fastify";
