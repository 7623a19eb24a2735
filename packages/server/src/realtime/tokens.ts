/**
 * @module realtime/tokens
 * Subscription tokens: what `POST /v1/realtime/token` hands out and the subscription
 * endpoints accept. A token is a JWT (HS256) naming one channel and its topics, with a
 * short lifetime (default 60 s: it only has to last until the subscriber connects; an
 * open subscription is not cut when it expires) and a random id.
 *
 * The HMAC key: in start mode derived from the signing key (every node with that key
 * verifies every node's tokens; a rotated-out key's fallback is accepted too); in dev
 * mode random per process. A token is never a credential for anything else, and never
 * logged.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { maxRealtimeNameLength } from "@stepwise/protocol";

export interface SubscriptionScope {
  channel: string;
  topics: string[];
}

export interface VerifiedToken extends SubscriptionScope {
  /** Expiry, epoch ms. */
  expiresAt: number;
}

export type VerifyResult = { ok: true; token: VerifiedToken } | { ok: false; status: 401; reason: string };

const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const audience = "stepwise:realtime";

function deriveKey(secret: string): Buffer {
  return createHmac("sha256", secret).update("stepwise realtime subscription tokens v1").digest();
}

export interface RealtimeTokensOptions {
  /** start mode: the signing keys (first signs, every one verifies). Empty: a random key (dev). */
  signingKeys: readonly string[];
  /** Lifetime of a token, ms. (Default: 60,000.) */
  ttlMs?: number;
  now?: () => number;
}

export class RealtimeTokens {
  private readonly keys: Buffer[];
  readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: RealtimeTokensOptions) {
    this.keys = options.signingKeys.length ? options.signingKeys.map(deriveKey) : [randomBytes(32)];
    this.ttlMs = options.ttlMs ?? 60_000;
    if (!Number.isInteger(this.ttlMs) || this.ttlMs < 1_000)
      throw new TypeError(`realtime tokenTtlMs: expected an integer of at least 1000, received ${this.ttlMs}`);
    this.now = options.now ?? Date.now;
  }

  sign(scope: SubscriptionScope): string {
    const iat = Math.floor(this.now() / 1000);
    const claims = { aud: audience, ch: scope.channel, tp: scope.topics, iat, exp: iat + Math.ceil(this.ttlMs / 1000), jti: randomUUID() };
    const body = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    return `${body}.${createHmac("sha256", this.keys[0] as Buffer)
      .update(body)
      .digest("base64url")}`;
  }

  verify(token: string | undefined): VerifyResult {
    const bad = (reason: string): VerifyResult => ({ ok: false, status: 401, reason });
    if (!token) return bad("no subscription token: get one from POST /v1/realtime/token");
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== header) return bad("malformed subscription token");
    const body = `${parts[0]}.${parts[1]}`;
    const given = Buffer.from(parts[2] as string, "base64url");
    const valid = this.keys.some((key) => {
      const expected = createHmac("sha256", key).update(body).digest();
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (!valid) return bad("invalid subscription token (not issued by this server)");
    let claims: { aud?: unknown; ch?: unknown; tp?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8"));
    } catch {
      return bad("malformed subscription token");
    }
    const { aud, ch, tp, exp } = claims;
    if (aud !== audience || typeof ch !== "string" || !Array.isArray(tp) || !tp.every((t) => typeof t === "string") || typeof exp !== "number") {
      return bad("malformed subscription token");
    }
    if (exp * 1000 <= this.now()) return bad("expired subscription token: get a new one from POST /v1/realtime/token");
    return { ok: true, token: { channel: ch, topics: tp as string[], expiresAt: exp * 1000 } };
  }
}

/** `undefined` when `name` may be a channel or topic name, else why not. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== "string" || name === "") return "must be a non-empty string";
  if (name.length > maxRealtimeNameLength) return `must be at most ${maxRealtimeNameLength} characters`;
  return undefined;
}
