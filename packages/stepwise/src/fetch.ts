/**
 * @module stepwise/fetch
 * `serve()` for Fetch-API runtimes: `(Request) => Promise<Response>`.
 */
export * from "@stepwise/sdk/fetch";
