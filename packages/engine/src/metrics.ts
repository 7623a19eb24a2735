/**
 * @module metrics
 * The engine's optional instrumentation hook. The engine calls these methods as things
 * happen and depends on no metrics library; a server wires them to one (the Stepwise
 * server to prom-client). Every method is optional, must be cheap and must not throw.
 */
import type { RunStatus } from "./ports/store.ts";

/** Hooks the engine calls; pass an implementation as `EngineOptions.metrics`. */
export interface EngineMetrics {
  /** A run's first call was claimed here (it moved from Queued to Running). */
  runStarted?(functionId: string): void;
  /** A run ended here with `status` (Completed, Failed or Cancelled). */
  runEnded?(functionId: string, status: RunStatus): void;
  /** One step of `functionId` ran for `seconds` (from the call's start or the previous step's end to its result). */
  stepDuration?(functionId: string, seconds: number): void;
  /** A call in flight here lost its lease (it expired and another worker took the item over). */
  leaseExpired?(): void;
  /** `count` events were stored by an ingest (sent, invoked or emitted by a step). */
  eventsStored?(count: number): void;
  /** A run entered a flow-control wait at intake (`waitingOn.kind`: throttle, debounce, batch, scheduled). */
  flowControlWait?(kind: string): void;
  /** A store write (`operation`: the `Store` method) took `seconds`, whether it succeeded or threw. */
  storeWrite?(operation: string, seconds: number): void;
  /**
   * Retention deleted `count` rows of `kind`: `runs`, `steps`, `pauses`, `events`,
   * `flow_state` (expired throttle, rate-limit, debounce, batch, singleton rows) or
   * `idempotency_keys`.
   */
  retentionDeleted?(kind: string, count: number): void;
}

/** The `Store` methods that write, timed by `EngineMetrics.storeWrite`. */
export const storeWriteMethods: ReadonlySet<string> = new Set([
  "ingestEvents",
  "claimQueueItems",
  "extendLeases",
  "releaseItem",
  "saveStep",
  "commitTransition",
  "transition",
  "sweepExpired",
  "sweep",
  "advanceCronSchedule",
  "ensureCronSchedule",
  "saveApp",
  "saveConnectConnections",
  "deleteConnectConnections",
  "addRunMetadata",
  "saveReplayJob",
]);

/**
 * Wraps `store` so that each write method reports its latency to `metrics.storeWrite`.
 * Other members pass through unchanged (methods bound to the store itself).
 */
export function timedStore<S extends object>(store: S, metrics: EngineMetrics): S {
  const report = metrics.storeWrite?.bind(metrics);
  if (!report) return store;
  const wrapped = new WeakMap<object, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const cached = wrapped.get(value);
      if (cached) return cached;
      const method = value as (...args: unknown[]) => unknown;
      const fn =
        typeof property === "string" && storeWriteMethods.has(property)
          ? (...args: unknown[]) => {
              const started = performance.now();
              const done = () => safely(() => report(property, (performance.now() - started) / 1000));
              let result: unknown;
              try {
                result = method.apply(target, args);
              } catch (error) {
                done();
                throw error;
              }
              if (result instanceof Promise) return result.finally(done);
              done();
              return result;
            }
          : method.bind(target);
      wrapped.set(value, fn);
      return fn;
    },
  });
}

/** Calls a hook; a throwing hook is ignored (metrics never break the engine). */
export function safely(call: () => void): void {
  try {
    call();
  } catch {
    // a metrics hook failing must not fail the work it observes
  }
}
