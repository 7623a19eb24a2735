/**
 * @module stepwise/next
 * `serve()` for the Next.js App Router: `export const { GET, POST, PUT } = serve({ client, functions })`.
 */
export * from "@stepwise/sdk/next";
