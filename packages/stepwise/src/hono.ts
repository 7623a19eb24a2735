/**
 * @module stepwise/hono
 * `serve()` for Hono: `app.on(["GET", "PUT", "POST"], "/api/inngest", serve({ client, functions }))`.
 */
export * from "@stepwise/sdk/hono";
