/**
 * @module notifier
 * Wake-ups: "there may be new due work". A store commit that enqueues work notifies;
 * workers subscribed to it claim at once instead of waiting for their next poll. In one
 * process this is a function call; a store shared by processes can carry it between
 * them (Postgres: LISTEN/NOTIFY). Correctness never depends on it: workers also poll.
 */
export interface Notifier {
  notify(): void;
  subscribe(listener: () => void): () => void;
}

/** Notifies listeners in this process only. */
export function createInProcessNotifier(): Notifier {
  const listeners = new Set<() => void>();
  return {
    notify() {
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
