/**
 * @module signature
 * Request verification and response signing for served functions (inngest-protocol.md
 * §4.3-4.4). The signature covers the RFC 8785 (JCS) canonical form of the JSON body,
 * as the official SDK checks it: a server may send any JSON layout as long as it signed
 * the canonical bytes. An empty body is signed as the empty string.
 */
import { signBody, verifySignature } from "@stepwise/protocol";
import canonicalizeModule from "canonicalize";

// canonicalize@1 is CommonJS whose types declare an ES default export: the default
// import is the function at runtime.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** The bytes a signature covers: the canonical JSON of `body`, or `body` itself if it is not JSON. */
export function canonicalBody(body: string): string {
  if (body.trim() === "") return "";
  try {
    return canonicalize(JSON.parse(body)) ?? body;
  } catch {
    return body;
  }
}

/** The key (primary, then fallback) whose signature `header` carries for `body`, or undefined. */
export function verifyRequest(header: string | undefined, body: string, keys: ReadonlyArray<string | undefined>): string | undefined {
  if (!header) return undefined;
  const signed = canonicalBody(body);
  return keys.find((key): key is string => key !== undefined && verifySignature(header, signed, [key]));
}

/** `x-inngest-signature` for a response body, signed with the key that verified the request. */
export function signResponse(body: string, key: string): string {
  return signBody(body, key);
}
