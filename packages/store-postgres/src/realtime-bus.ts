/**
 * @module realtime-bus
 * The realtime bus over Postgres `LISTEN/NOTIFY`: a message published on one node reaches
 * the subscribers connected to every node on the same database.
 *
 * - Local subscribers are called at once; a node ignores its own notifications.
 * - A message travels as base64 chunks of at most 7,000 characters (a NOTIFY payload
 *   holds under 8,000 bytes), all sent in one transaction, so they are delivered
 *   together; the receiver joins them by the message's id.
 * - The LISTEN connection is its own, opened on the first `subscribe`. When it is lost
 *   the bus listens again with backoff; messages published meanwhile are missed (realtime
 *   is best effort, as Inngest's is).
 */
import { randomUUID } from "node:crypto";
import { InProcessRealtimeBus, type RealtimeBus, type RealtimeMessage } from "@stepwise/engine";
import pg from "pg";
import { backoffMs } from "./retry.ts";

export interface PostgresRealtimeBusOptions {
  url: string;
  /** The pool NOTIFY is sent on (the store's). */
  pool: pg.Pool;
  /** The channel name. (Default: "stepwise_realtime".) */
  channel?: string;
  onWarning?: (message: string) => void;
}

/** Characters of base64 per NOTIFY. */
const chunkChars = 7_000;
/** Partial messages older than this are dropped (their other chunks never came). */
const partialTtlMs = 30_000;

export class PostgresRealtimeBus implements RealtimeBus {
  private readonly local = new InProcessRealtimeBus();
  private readonly node = randomUUID();
  private readonly channel: string;
  private readonly partial = new Map<string, { parts: string[]; got: number; at: number }>();
  private listener: pg.Client | undefined;
  private listening = false;
  private reconnect: ReturnType<typeof setTimeout> | undefined;
  private started = false;
  private closed = false;

  constructor(private readonly options: PostgresRealtimeBusOptions) {
    this.channel = options.channel ?? "stepwise_realtime";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel))
      throw new TypeError(`channel: expected a lower-case SQL identifier, received ${JSON.stringify(this.channel)}`);
  }

  /** True while the LISTEN connection is up. */
  get isListening(): boolean {
    return this.listening;
  }

  async publish(message: RealtimeMessage): Promise<void> {
    this.local.deliver(message);
    if (this.closed) return;
    const body = Buffer.from(JSON.stringify(message), "utf8").toString("base64");
    const id = randomUUID();
    const count = Math.max(1, Math.ceil(body.length / chunkChars));
    const payloads: string[] = [];
    for (let i = 0; i < count; i++) payloads.push(`${this.node}|${id}|${i}|${count}|${body.slice(i * chunkChars, (i + 1) * chunkChars)}`);
    if (payloads.length === 1) {
      await this.options.pool.query("SELECT pg_notify($1, $2)", [this.channel, payloads[0]]);
      return;
    }
    const client = await this.options.pool.connect();
    try {
      await client.query("BEGIN");
      for (const payload of payloads) await client.query("SELECT pg_notify($1, $2)", [this.channel, payload]);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  subscribe(channel: string, listener: (message: RealtimeMessage) => void): () => void {
    if (!this.started && !this.closed) {
      this.started = true;
      this.listen(0);
    }
    return this.local.subscribe(channel, listener);
  }

  /** Resolves once the LISTEN connection is up (tests, and a node that must not miss the first message). */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (!this.started && !this.closed) {
      this.started = true;
      this.listen(0);
    }
    const until = Date.now() + timeoutMs;
    while (!this.listening) {
      if (this.closed || Date.now() > until) throw new Error("the realtime LISTEN connection is not up");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = undefined;
    this.listening = false;
    await listener?.end().catch(() => {});
  }

  private receive(payload: string) {
    const [node, id, index, count, part] = payload.split("|");
    if (node === this.node || !id || part === undefined) return;
    const i = Number(index);
    const n = Number(count);
    if (!Number.isInteger(i) || !Number.isInteger(n) || n < 1 || i < 0 || i >= n) return;
    let body: string;
    if (n === 1) body = part;
    else {
      const now = Date.now();
      for (const [key, entry] of this.partial) if (now - entry.at > partialTtlMs) this.partial.delete(key);
      const entry = this.partial.get(id) ?? { parts: new Array<string>(n), got: 0, at: now };
      this.partial.set(id, entry);
      if (entry.parts[i] === undefined) {
        entry.parts[i] = part;
        entry.got++;
      }
      if (entry.got < n) return;
      this.partial.delete(id);
      body = entry.parts.join("");
    }
    let message: RealtimeMessage;
    try {
      message = JSON.parse(Buffer.from(body, "base64").toString("utf8")) as RealtimeMessage;
    } catch {
      return;
    }
    if (typeof message?.channel !== "string" || typeof message.topic !== "string") return;
    this.local.deliver(message);
  }

  private listen(attempt: number) {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.url, application_name: "stepwise-realtime", keepAlive: true });
    this.listener = client;
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => {});
      if (this.closed) return;
      if (this.listening) this.options.onWarning?.("stepwise: the Postgres realtime LISTEN connection closed; listening again");
      const wasListening = this.listening;
      this.listening = false;
      this.reconnect = setTimeout(() => this.listen(attempt + 1), wasListening ? 0 : Math.max(100, backoffMs(attempt + 3)));
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel === this.channel && message.payload) this.receive(message.payload);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${this.channel}`))
      .then(() => {
        if (this.listener === client) this.listening = true;
      }, lost);
  }
}
