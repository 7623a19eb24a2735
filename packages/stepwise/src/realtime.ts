/**
 * @module stepwise/realtime
 * Realtime channels, topics and subscriptions (`inngest/realtime`'s exports), safe to
 * import in a browser: docs/realtime.md.
 */
export * from "@stepwise/sdk/realtime";
