/**
 * @module signing
 * Signing keys, bearer tokens and request signatures as the Inngest protocol defines them
 * (inngest-protocol.md §4). Signatures cover the exact body bytes sent, which must be the
 * RFC 8785 canonical JSON of the body (the SDK re-canonicalises before verifying).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

const prefixPattern = /^signkey-[A-Za-z0-9_]+-/;

/** Longest a signature stays valid either side of now. */
export const signatureMaxAgeS = 300;

/** `signkey-prod-<hex>` → `signkey-prod-` + hex(SHA-256(hex-decoded key)): what the SDK sends as `Bearer`. */
export function hashSigningKey(signingKey: string): string {
  const prefix = prefixPattern.exec(signingKey)?.[0] ?? "";
  const hex = signingKey.slice(prefix.length);
  return prefix + createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex");
}

/** HMAC key: the signing key text after its `signkey-<env>-` prefix. */
function hmacKey(signingKey: string): string {
  return signingKey.replace(prefixPattern, "");
}

/** The `X-Inngest-Signature` value for `body` at unix second `t`. */
export function signBody(body: string, signingKey: string, t = Math.floor(Date.now() / 1000)): string {
  const s = createHmac("sha256", hmacKey(signingKey))
    .update(body + String(t))
    .digest("hex");
  return `t=${t}&s=${s}`;
}

/** Whether `header` signs `body` with one of `signingKeys`, within the freshness window. */
export function verifySignature(header: string | undefined, body: string, signingKeys: readonly string[], nowS = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  const params = new URLSearchParams(header);
  const t = Number(params.get("t"));
  const s = params.get("s") ?? "";
  if (!Number.isFinite(t) || Math.abs(nowS - t) > signatureMaxAgeS) return false;
  return signingKeys.some((key) => safeEqual(signBody(body, key, t).slice(`t=${t}&s=`.length), s));
}

/** Constant-time comparison of a presented bearer token with the accepted keys' hashes. */
export function verifyBearer(authorization: string | undefined, signingKeys: readonly string[]): boolean {
  const token = authorization?.replace(/^Bearer\s+/i, "") ?? "";
  return signingKeys.some((key) => safeEqual(hashSigningKey(key), token));
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
