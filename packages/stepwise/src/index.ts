/**
 * @module stepwise
 * Durable functions for TypeScript. Write functions with the client below; run them
 * in-process with `createEngine` from `stepwise/engine`.
 */
export * from "@stepwise/sdk";
export * from "@stepwise/sdk/encryption";
