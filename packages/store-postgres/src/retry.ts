/**
 * @module retry
 * Which Postgres failures are transient, and retrying them with backoff.
 *
 * Transient: a serialization failure or deadlock (40001, 40P01: the transaction was
 * rolled back), the server shutting down or restarting (57P01–57P03), a lost or refused
 * connection (class 08, socket errors, the client's CONNECTION_CLOSED), too many
 * connections (53300). A failure before COMMIT was sent rolled the transaction back, so
 * it is retried. A connection lost *during* COMMIT leaves it unknown whether the
 * transaction committed: only writes safe to apply twice are retried then (see
 * `Retry.ambiguous`); the others surface the error.
 */

const transientCodes = new Set([
  "40001",
  "40P01",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EAI_AGAIN",
]);

/** Rolled back for certain: the same transaction may simply run again. */
const rolledBackCodes = new Set(["40001", "40P01"]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** node-postgres reports a connection lost mid-query, or a pool connect timing out, without a code. */
const lostConnection =
  /Connection terminated unexpectedly|encountered a connection error|timeout exceeded when trying to connect|Connection terminated due to connection timeout/;

export function isTransient(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined) return transientCodes.has(code);
  return error instanceof Error && lostConnection.test(error.message);
}

/** The connection that raised this can no longer be used: drop it from the pool. */
export function isConnectionLost(error: unknown): boolean {
  return isTransient(error) && !isRolledBack(error);
}

export function isRolledBack(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && rolledBackCodes.has(code);
}

export interface RetryOptions {
  /** Give up (rethrow) after retrying this long. */
  forMs: number;
  /** Called before each wait, e.g. to log the first one. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** 10 ms doubling to 1 s, with jitter, so nodes reconnecting after a restart spread out. */
export function backoffMs(attempt: number): number {
  const base = Math.min(1_000, 10 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

/**
 * Runs `attempt` until it succeeds, a non-transient error occurs, or `forMs` passed. The
 * attempt reports through `committing()` when its COMMIT was sent: a connection lost
 * after that is retried only when `ambiguous` says the write is safe to apply twice.
 */
export async function withRetry<T>(attempt: (committing: () => void) => Promise<T>, options: RetryOptions & { ambiguous: "retry" | "throw" }): Promise<T> {
  const deadline = Date.now() + options.forMs;
  for (let n = 0; ; n++) {
    let sentCommit = false;
    try {
      return await attempt(() => {
        sentCommit = true;
      });
    } catch (error) {
      const retryable = isTransient(error) && (!sentCommit || isRolledBack(error) || options.ambiguous === "retry");
      if (!retryable || Date.now() > deadline) throw error;
      options.onRetry?.(error, n);
      await new Promise((resolve) => setTimeout(resolve, backoffMs(n)));
    }
  }
}
