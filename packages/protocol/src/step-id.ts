/**
 * @module step-id
 * Step-id hashing exactly as the Inngest protocol does it, so memoized state is
 * interchangeable with the official SDK: wire id = lowercase hex SHA-1 of the user id;
 * the n-th repeat of an id within one call hashes `"<id>:<n>"`.
 */
import { createHash } from "node:crypto";

export function hashStepId(finalId: string): string {
  return createHash("sha1").update(finalId, "utf8").digest("hex");
}

export interface ResolvedStepId {
  /** The hashed id used as the memo key and on the wire. */
  hash: string;
  /** The user id with its repeat counter, e.g. `"send:2"`. */
  finalId: string;
  /** Repeat index (1 for the first repeat); absent for the first use. */
  index?: number;
}

/** Assigns hashed ids to step ids in discovery order within one call. */
export class StepIdRegistry {
  private readonly seen = new Set<string>();
  private readonly counters = new Map<string, number>();

  resolve(userId: string): ResolvedStepId {
    const first = hashStepId(userId);
    if (!this.seen.has(first) && !this.counters.has(userId)) {
      this.seen.add(first);
      this.counters.set(userId, 1);
      return { hash: first, finalId: userId };
    }
    for (let i = this.counters.get(userId) ?? 1; ; i++) {
      const finalId = `${userId}:${i}`;
      const hash = hashStepId(finalId);
      if (!this.seen.has(hash)) {
        this.seen.add(hash);
        this.counters.set(userId, i + 1);
        return { hash, finalId, index: i };
      }
    }
  }
}
