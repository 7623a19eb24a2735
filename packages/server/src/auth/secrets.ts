/**
 * @module auth/secrets
 * Constant-time comparison and random secrets. Every credential check in the server goes
 * through `safeEqual`: both sides are hashed to SHA-256 first, so `timingSafeEqual` always
 * compares two 32-byte digests and neither the content nor the length of a secret leaks.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export function sha256Hex(text: string): string {
  return sha256(text).toString("hex");
}

/** `true` when `given` equals `expected`, in time independent of both. */
export function safeEqual(given: string | undefined, expected: string): boolean {
  return timingSafeEqual(sha256(given ?? ""), sha256(expected)) && given !== undefined;
}

/** Compares a hex digest with another in constant time (both 64 hex characters). */
export function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

/** A random secret with 256 bits of entropy, URL-safe, with a recognizable prefix. */
export function randomSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}
