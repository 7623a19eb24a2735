/**
 * @module limits
 * Limits shared by the SDK and the engine. They copy Inngest's defaults so code that
 * works there works here; each crossing produces an error naming the limit.
 */

export const limits = {
  /** Steps one run may have (Inngest's default). */
  stepsPerRun: 1_000,
  /** Serialized size of one step result. */
  stepResultBytes: 4 * 1024 * 1024,
  /** Serialized size of all step results of one run together. */
  runStateBytes: 32 * 1024 * 1024,
  /** Serialized size of one event; the engine option `maxEventBytes` overrides it. */
  eventBytes: 512 * 1024,
  /** Events in one `send`. */
  eventsPerSend: 5_000,
  /** Triggers per function. */
  triggersPerFunction: 10,
  /** `cancelOn` entries per function. */
  cancelOnPerFunction: 5,
  /** Concurrency limits per function. */
  concurrencyLimits: 2,
  /** Longest sleep. */
  sleepMs: 366 * 24 * 60 * 60 * 1000,
  /** Retries per step or function call: default and maximum. */
  defaultRetries: 4,
  maxRetries: 20,
} as const;

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
