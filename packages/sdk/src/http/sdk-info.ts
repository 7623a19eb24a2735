/**
 * @module sdk-info
 * How this SDK names itself on the wire, and the headers every request and response of
 * the Inngest protocol carries (inngest-protocol.md §3).
 */

export const sdkVersion = "0.1.0";
/** `x-inngest-sdk` and `user-agent` value (the official SDK sends `inngest-js:v4.24.0`). */
export const sdkName = `stepwise:v${sdkVersion}`;
/** The execution (request) version this SDK answers with: parallel steps coalesce. */
export const executionVersion = "2";

/** Headers identifying the SDK, for outgoing requests and for responses. */
export function sdkHeaders(framework?: string): Record<string, string> {
  return {
    "user-agent": sdkName,
    "x-inngest-sdk": sdkName,
    "x-inngest-sdk-handled": "true",
    ...(framework ? { "x-inngest-framework": framework } : {}),
  };
}
