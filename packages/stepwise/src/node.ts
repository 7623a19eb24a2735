/**
 * @module stepwise/node
 * `serve()` for node:http: a `(req, res)` listener.
 */
export * from "@stepwise/sdk/node";
