/**
 * @module notifier
 * The engine's Notifier over Postgres `LISTEN/NOTIFY`, so a commit on one node wakes the
 * workers of every node at once instead of at their next poll.
 *
 * - Coalesced: at most one `NOTIFY` per channel per `windowMs` (10 ms): the first wake-up
 *   is sent at once, later ones within the window are folded into one sent when it ends.
 *   (A NOTIFY per commit would serialize commits on Postgres's notification queue lock.)
 * - Local listeners are called at once; a node ignores its own notifications.
 * - The LISTEN connection is its own (one per notifier). When it closes (a restart, a
 *   terminated backend, a network cut) the notifier listens again with backoff, and
 *   wakes its listeners once it is back, since wake-ups may have been missed meanwhile.
 * - Best effort: a failed NOTIFY is dropped. Workers also poll; correctness never
 *   depends on a notification arriving.
 */
import { randomUUID } from "node:crypto";
import type { Notifier } from "@stepwise/engine";
import pg from "pg";
import { backoffMs } from "./retry.ts";

export interface PostgresNotifierOptions {
  /** The database URL (the notifier opens one connection of its own for LISTEN). */
  url: string;
  /** The connection pool NOTIFY is sent on (the store's). */
  pool: pg.Pool;
  /** The channel name. (Default: "stepwise_wake".) */
  channel?: string;
  /** At most one NOTIFY per this many ms. (Default: 10.) */
  windowMs?: number;
  /** Where a lost LISTEN connection is reported (once per outage). */
  onWarning?: (message: string) => void;
}

export class PostgresNotifier implements Notifier {
  private readonly listeners = new Set<() => void>();
  private readonly node = randomUUID();
  private readonly channel: string;
  private readonly windowMs: number;
  private lastSentAt = 0;
  private trailing: ReturnType<typeof setTimeout> | undefined;
  private listener: pg.Client | undefined;
  private listening = false;
  private reconnect: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private started = false;

  constructor(private readonly options: PostgresNotifierOptions) {
    this.channel = options.channel ?? "stepwise_wake";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel))
      throw new TypeError(`channel: expected a lower-case SQL identifier, received ${JSON.stringify(this.channel)}`);
    this.windowMs = options.windowMs ?? 10;
  }

  /** True while the LISTEN connection is up (for tests and health checks). */
  get isListening(): boolean {
    return this.listening;
  }

  notify(): void {
    for (const listener of this.listeners) listener();
    if (this.closed || this.trailing) return;
    const wait = this.lastSentAt + this.windowMs - Date.now();
    if (wait <= 0) this.send();
    else
      this.trailing = setTimeout(() => {
        this.trailing = undefined;
        this.send();
      }, wait);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.started && !this.closed) {
      this.started = true;
      this.listen(0);
    }
    return () => this.listeners.delete(listener);
  }

  /** Stops listening and sending; pending coalesced notifications are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.trailing);
    clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = undefined;
    this.listening = false;
    await listener?.end().catch(() => {});
  }

  private send() {
    this.lastSentAt = Date.now();
    this.options.pool.query({ name: "stepwise_notify", text: "SELECT pg_notify($1, $2)", values: [this.channel, this.node] }).catch(() => {
      // best effort: the other nodes poll
    });
  }

  /** Opens a connection of its own and LISTENs; on failure or later loss, tries again with backoff. */
  private listen(attempt: number) {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.url, application_name: "stepwise-listen", keepAlive: true });
    this.listener = client;
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => {});
      if (this.closed) return;
      if (this.listening) this.options.onWarning?.("stepwise: the Postgres LISTEN connection closed; listening again (workers poll meanwhile)");
      const wasListening = this.listening;
      this.listening = false;
      this.reconnect = setTimeout(() => this.listen(attempt + 1), wasListening ? 0 : Math.max(100, backoffMs(attempt + 3)));
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel !== this.channel || message.payload === this.node) return;
      for (const listener of this.listeners) listener();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${this.channel}`))
      .then(() => {
        if (this.listener !== client) return;
        this.listening = true;
        // wake-ups may have been missed while not listening
        if (attempt > 0) for (const listener of this.listeners) listener();
      }, lost);
  }
}
