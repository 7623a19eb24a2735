/**
 * @module auth/sessions
 * Dashboard sessions (cookie `stepwise_session`) and the limiter for failed logins. Both
 * live in memory: a restart logs every browser out, which is the safe direction.
 */
import { randomSecret, safeEqualHex, sha256Hex } from "./secrets.ts";

export const sessionCookie = "stepwise_session";

export class Sessions {
  /** hex SHA-256 of the session id → expiry (ms). */
  private readonly live = new Map<string, number>();

  constructor(readonly ttlMs = 12 * 60 * 60_000) {}

  create(): string {
    const id = randomSecret("sws_");
    this.live.set(sha256Hex(id), Date.now() + this.ttlMs);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const hash = sha256Hex(id);
    const now = Date.now();
    let ok = false;
    for (const [key, expires] of this.live) {
      if (expires <= now) this.live.delete(key);
      else if (safeEqualHex(key, hash)) ok = true;
    }
    return ok;
  }

  end(id: string | undefined) {
    if (id) this.live.delete(sha256Hex(id));
  }
}

/** At most `limit` failures per `windowMs` per key (an IP address). */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly limit = 5,
    readonly windowMs = 60_000,
  ) {}

  private recent(key: string): number[] {
    const since = Date.now() - this.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  blocked(key: string): boolean {
    return this.recent(key).length >= this.limit;
  }

  fail(key: string) {
    this.failures.set(key, [...this.recent(key), Date.now()]);
  }
}
