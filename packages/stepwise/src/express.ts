/**
 * @module stepwise/express
 * `serve()` for Express: `app.use("/api/inngest", serve({ client, functions }))`.
 */
export * from "@stepwise/sdk/express";
