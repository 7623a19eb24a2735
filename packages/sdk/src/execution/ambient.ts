/**
 * @module ambient
 * What code running inside a handler reaches without being handed it: the call's
 * `step.fetch` (for the package's `fetch`), its run (realtime publishes), its sessions (a
 * bare `client.send()`), and the step whose work is running with the metadata written in
 * it. One `AsyncLocalStorage` holds them all: on Node 20 every promise created while a
 * storage is active pays for each active instance, so one more per feature would tax
 * every `await` in the process, the engine's and the store's included.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { RealtimeBus } from "@stepwise/protocol";

export interface Ambient {
  /** The call's `step.fetch`: what the package's `fetch` does inside a handler. */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** The step whose work is running: requests inside it are plain requests. */
  executingStep?: string;
  /** The run the handler runs for (realtime publishes are tagged with it) and the call's bus. */
  run?: { runId: string; bus?: RealtimeBus | undefined };
  /** The run's sessions, inherited by a `client.send()` made inside the handler. */
  sessions?: Record<string, string>;
  /** The step whose work is running, collecting the metadata written inside it. */
  step?: { runId: string; updates: unknown[] };
}

const storage = new AsyncLocalStorage<Ambient>();

/** Runs `fn` with `patch` over the current ambient values. */
export function withAmbient<T>(patch: Ambient, fn: () => T): T {
  const current = storage.getStore();
  return storage.run(current ? { ...current, ...patch } : patch, fn);
}

/** The ambient values where this code runs, if it runs inside a handler. */
export function ambient(): Ambient | undefined {
  return storage.getStore();
}
