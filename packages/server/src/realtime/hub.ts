/**
 * @module realtime/hub
 * Subscribers of this server: WebSocket connections at `GET /v1/realtime/connect?token=`
 * (what the official `inngest/realtime` client opens) and server-sent event streams at
 * `GET /v1/realtime/sse`. Each is scoped by its subscription token to one channel and
 * some topics, and receives the bus's messages for them as Inngest's JSON frames:
 * `{ kind: "data", channel, topic, data, run_id?, fn_id?, created_at }`.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { RealtimeBus, RealtimeMessage } from "@stepwise/engine";
import { type WebSocket, WebSocketServer } from "ws";
import type { RealtimeTokens, VerifiedToken } from "./tokens.ts";

export const realtimeConnectPath = "/v1/realtime/connect";

/** A subscriber with more than this much unsent is closed (WebSocket: bytes buffered; SSE: see routes). */
export const maxBufferedBytes = 16 * 1024 * 1024;
/** An SSE subscriber with more than this many messages not yet written is closed. */
export const maxQueuedMessages = 10_000;

/** A message as subscribers receive it (Inngest's realtime frame). */
export function wireMessage(message: RealtimeMessage): Record<string, unknown> {
  return {
    kind: "data",
    channel: message.channel,
    topic: message.topic,
    data: message.data ?? null,
    ...(message.runId ? { run_id: message.runId } : {}),
    ...(message.fnId ? { fn_id: message.fnId } : {}),
    created_at: new Date(message.createdAt).toISOString(),
  };
}

export type ScopeResult = { ok: true; token: VerifiedToken } | { ok: false; status: 401 | 403; reason: string };

/**
 * Checks a subscription: the token, and (when the subscriber names them) that the
 * channel and topics asked for are the token's. A token for another channel or topic: 403.
 */
export function checkScope(tokens: RealtimeTokens, token: string | undefined, channel: string | undefined, topics: readonly string[]): ScopeResult {
  const verified = tokens.verify(token);
  if (!verified.ok) return verified;
  if (channel !== undefined && channel !== verified.token.channel) {
    return { ok: false, status: 403, reason: `the subscription token is for another channel than ${JSON.stringify(channel)}` };
  }
  const outside = topics.filter((t) => !verified.token.topics.includes(t));
  if (outside.length) return { ok: false, status: 403, reason: `the subscription token does not cover topic ${JSON.stringify(outside[0])}` };
  return verified;
}

export interface RealtimeHubOptions {
  bus: RealtimeBus;
  tokens: RealtimeTokens;
  /** dev: the `Host` names upgrades are accepted for, or `"any"`. */
  allowedHosts?: readonly string[] | "any";
  /** WebSocket ping interval, ms. (Default: 30,000.) */
  pingIntervalMs?: number;
}

export class RealtimeHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly streams = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: RealtimeHubOptions) {}

  /** Subscribes `send` to the token's channel and topics; returns the unsubscribe. */
  subscribe(token: VerifiedToken, send: (frame: Record<string, unknown>) => void): () => void {
    const topics = new Set(token.topics);
    return this.options.bus.subscribe(token.channel, (message) => {
      if (topics.has(message.topic)) send(wireMessage(message));
    });
  }

  /** Registers a stream's closer (SSE), called on `close()`. */
  track(close: () => void): () => void {
    this.streams.add(close);
    return () => this.streams.delete(close);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The HTTP server's `upgrade` event, for `/v1/realtime/connect`; anything else: 404. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, message: string) => {
      const reason = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : status === 404 ? "Not Found" : "Service Unavailable";
      socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
    };
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== realtimeConnectPath) {
      refuse(404, `no WebSocket endpoint at ${url.pathname}`);
      return;
    }
    if (this.closed) {
      refuse(503, "the server is shutting down");
      return;
    }
    const allowed = this.options.allowedHosts;
    if (allowed && allowed !== "any") {
      const host = (req.headers.host ?? "").toLowerCase().replace(/:\d*$/, "");
      if (!allowed.map((h) => h.toLowerCase()).includes(host)) {
        refuse(403, `Host ${JSON.stringify(req.headers.host ?? "")} is not allowed`);
        return;
      }
    }
    const channel = url.searchParams.get("channel") ?? undefined;
    const scope = checkScope(this.options.tokens, url.searchParams.get("token") ?? undefined, channel, url.searchParams.getAll("topic"));
    if (!scope.ok) {
      refuse(scope.status, scope.reason);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, scope.token));
  }

  private accept(ws: WebSocket, token: VerifiedToken) {
    let alive = true;
    const unsubscribe = this.subscribe(token, (frame) => {
      if (ws.readyState !== ws.OPEN) return;
      // a subscriber that does not keep up is let go rather than buffered without bound
      if (ws.bufferedAmount > maxBufferedBytes) {
        ws.close(1013, "subscriber too slow");
        return;
      }
      ws.send(JSON.stringify(frame));
    });
    const ping = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, this.options.pingIntervalMs ?? 30_000);
    ping.unref();
    ws.on("pong", () => {
      alive = true;
    });
    ws.on("message", (raw) => {
      // the client's keep-alive: {"kind":"ping"} → {"kind":"pong"}; anything else is ignored
      try {
        if ((JSON.parse(String(raw)) as { kind?: unknown }).kind === "ping") ws.send(JSON.stringify({ kind: "pong" }));
      } catch {
        // not JSON: ignored
      }
    });
    ws.on("error", () => ws.terminate());
    ws.on("close", () => {
      clearInterval(ping);
      unsubscribe();
    });
  }

  /** Closes every subscription (WebSocket and SSE) and refuses new ones. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ws of this.wss.clients) {
      ws.send(JSON.stringify({ kind: "closing" }));
      ws.close(1001, "server shutting down");
    }
    for (const close of [...this.streams]) close();
    this.streams.clear();
    this.wss.close();
  }
}
