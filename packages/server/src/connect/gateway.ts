/**
 * @module connect/gateway
 * The Connect gateway (inngest-protocol §15): workers that cannot be reached over HTTP
 * open a WebSocket here and receive their functions' calls on it.
 *
 * - `start()` (behind `POST /v0/connect/start`) issues a connection id and a one-use session
 *   token; the worker then opens `GET /v0/connect/gateway` (subprotocol
 *   `v0.connect.inngest.com`) and proves itself with the token inside `WORKER_CONNECT`.
 * - `WORKER_CONNECT` is the sync: its apps' function configs are registered with the engine
 *   as `ConnectFunction`s, and stored (`connect://<app>`) so a restarted node knows them
 *   before the worker is back.
 * - A call goes to a ready connection of the app with the fewest calls in flight
 *   (`WORKER_PAUSE` removes a connection from the choice; its calls in flight finish). With
 *   none connected it waits `noWorkerWaitMs` if a worker of the app was here within the last
 *   minute (or this node just started: workers are reconnecting), then fails as a retriable
 *   transport error; an app with no worker for longer fails at once, so its calls do not
 *   hold the engine's slots.
 * - Each call carries a lease id. The worker extends it every `extendLeaseIntervalMs`, over
 *   whichever of its connections is open; the engine keeps its own lease of the call while
 *   it waits. A call whose lease is not extended for `leaseTimeoutMs` (a worker killed or cut
 *   off) fails as retriable, and the engine retries it on another worker; a reply for it
 *   arriving later is acknowledged and dropped. When the engine gives a call up (its
 *   `signal`), the next extension is answered without a new lease id: "lease lost".
 * - Heartbeats are answered; a connection silent for `2.5 × heartbeatIntervalMs` is closed.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Engine } from "@stepwise/engine";
import { type ExecutionInput, type ExecutionResult, type Logger, StepwiseError } from "@stepwise/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import { fromWire, type WireFunction } from "../driver/wire-config.ts";
import { connectTraceContext } from "../tracing.ts";
import { type ConnectDispatcher, ConnectFunction, decodeReply } from "./connect-function.ts";
import { decode, encode, frame, type Message, MessageKind, schemas, WireError } from "./wire.ts";

/** The WebSocket subprotocol the SDK asks for. */
export const connectSubprotocol = "v0.connect.inngest.com";
/** Where workers open their WebSocket. */
export const gatewayPath = "/v0/connect/gateway";
/** Prefix of the stored app records of Connect apps (they have no URL). */
export const connectAppPrefix = "connect://";

/** Close codes the gateway uses (4000–4999: application-defined). */
export const CloseCode = {
  goingAway: 1001,
  protocolError: 1002,
  unauthorized: 4001,
  malformed: 4002,
  handshakeTimeout: 4003,
  heartbeatTimeout: 4004,
  syncFailed: 4005,
} as const;

export interface ConnectGatewayOptions {
  engine: Engine;
  logger: Logger;
  /** How often workers send heartbeats. (Default: 10,000 ms.) */
  heartbeatIntervalMs?: number;
  /** How often workers extend the lease of a call in flight. (Default: 5,000 ms.) */
  extendLeaseIntervalMs?: number;
  /** A call whose lease goes unextended this long is failed and retried. (Default: 2 × the extend interval + 2 s.) */
  leaseTimeoutMs?: number;
  /** How long a call waits for a worker of its app to be connected and ready. (Default: 10,000 ms.) */
  noWorkerWaitMs?: number;
  /** A call waits for a worker only if one of its app was connected this recently (or the node started this recently). (Default: 60,000 ms.) */
  recentWorkerMs?: number;
  /** A call taking longer fails and is retried. (Default: 5 minutes.) */
  callTimeoutMs?: number;
  /** How long a `start()` session token may wait for its WebSocket. (Default: 30,000 ms.) */
  sessionTtlMs?: number;
  /** `dev`: the `Host` names upgrades are accepted for (as the rest of dev mode), or `"any"`. */
  allowedHosts?: readonly string[] | "any";
}

type ConnState = "handshake" | "connected" | "ready" | "draining" | "closed";

interface Connection {
  id: string;
  ws: WebSocket;
  state: ConnState;
  apps: Set<string>;
  instanceId: string;
  lastSeenAt: number;
  inFlight: Set<string>;
  maxConcurrency: number | undefined;
}

interface PendingCall {
  requestId: string;
  appName: string;
  functionId: string;
  runId: string;
  leaseId: string;
  connectionId: string;
  lastExtendedAt: number;
  startedAt: number;
  lost: boolean;
  settle(result: ExecutionResult): void;
}

/** What a worker sees of a connection, for tests and the dashboard. */
export interface ConnectionInfo {
  id: string;
  state: ConnState;
  apps: string[];
  instanceId: string;
  inFlight: number;
}

function transportError(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "ConnectTransportError", message }, retriable: true };
}

/** A close reason within the protocol's 123 bytes (UTF-8), cut at a character boundary. */
export function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/** Started sessions (`POST /v0/connect/start`) whose WebSocket has not arrived yet, at most. */
const maxPendingSessions = 10_000;

/** A duration as the SDK parses it (`ms` strings). */
const seconds = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`;

export class ConnectGateway implements ConnectDispatcher {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (offered) => (offered.has(connectSubprotocol) ? connectSubprotocol : false),
  });
  private readonly connections = new Map<string, Connection>();
  private readonly sessions = new Map<string, { token: string; expiresAt: number }>();
  private readonly pending = new Map<string, PendingCall>();
  /** Function ids registered per app, to unregister the ones a later sync drops. */
  private readonly appFunctions = new Map<string, string[]>();
  private readonly waiters = new Set<() => void>();
  /** When a worker of each app was last connected here (or the node started, for stored apps). */
  private readonly appLastSeen = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly heartbeatMs: number;
  private readonly extendMs: number;
  private readonly leaseTimeoutMs: number;
  private closed = false;
  private accepting = true;

  constructor(private readonly options: ConnectGatewayOptions) {
    this.heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    this.extendMs = options.extendLeaseIntervalMs ?? 5_000;
    this.leaseTimeoutMs = options.leaseTimeoutMs ?? 2 * this.extendMs + 2_000;
    this.timer = setInterval(() => this.sweep(), Math.min(1_000, this.extendMs / 2));
    this.timer.unref();
  }

  /** The live connections. */
  list(): ConnectionInfo[] {
    return [...this.connections.values()].map((c) => ({ id: c.id, state: c.state, apps: [...c.apps], instanceId: c.instanceId, inFlight: c.inFlight.size }));
  }

  /** `POST /v0/connect/start`: a connection id and the one-use token its WebSocket must present. */
  start(gatewayEndpoint: string): Message<typeof schemas.StartResponse> {
    if (this.closed || !this.accepting) throw new StepwiseError("closed", "connect: this server is shutting down");
    const now = Date.now();
    for (const [id, s] of this.sessions) if (s.expiresAt < now) this.sessions.delete(id);
    if (this.sessions.size >= maxPendingSessions) {
      throw new StepwiseError("limit_exceeded", `connect: ${maxPendingSessions} sessions are waiting for their WebSocket; try again shortly`);
    }
    const connectionId = randomUUID();
    const token = `sws_${randomUUID().replaceAll("-", "")}`;
    this.sessions.set(connectionId, { token, expiresAt: now + (this.options.sessionTtlMs ?? 30_000) });
    return { connectionId, gatewayEndpoint, gatewayGroup: "stepwise", sessionToken: token, syncToken: token };
  }

  /** Registers the Connect apps stored by this node before a restart, or by other nodes. */
  async restore(): Promise<void> {
    for (const stored of await this.options.engine.store.listApps()) {
      if (!stored.url.startsWith(connectAppPrefix)) continue;
      try {
        this.registerApp(stored.appName, stored.functions as WireFunction[]);
        this.appLastSeen.set(stored.appName, Date.now());
      } catch (error) {
        this.options.logger.warn(`stepwise connect: could not register stored app ${stored.appName}: ${(error as Error).message}`);
      }
    }
  }

  /**
   * The HTTP server's `upgrade` event. Takes `/v0/connect/gateway` only; anything else is
   * answered 404 (or left to `otherwise`, when given).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, otherwise?: () => void): void {
    const refuse = (status: number, message: string) => {
      socket.end(`HTTP/1.1 ${status} ${message.slice(0, 40)}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
    };
    const path = (req.url ?? "").split("?")[0];
    if (path !== gatewayPath) {
      if (otherwise) otherwise();
      else refuse(404, `no WebSocket endpoint at ${path}`);
      return;
    }
    if (this.closed || !this.accepting) {
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
    if (req.headers.origin) {
      refuse(403, "cross-origin WebSocket refused: Connect workers send no Origin");
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  private accept(ws: WebSocket): void {
    if (ws.protocol !== connectSubprotocol) {
      ws.close(CloseCode.protocolError, `subprotocol ${connectSubprotocol} required`);
      return;
    }
    const conn: Connection = {
      id: "",
      ws,
      state: "handshake",
      apps: new Set(),
      instanceId: "",
      lastSeenAt: Date.now(),
      inFlight: new Set(),
      maxConcurrency: undefined,
    };
    const handshake = setTimeout(() => {
      if (conn.state === "handshake") ws.close(CloseCode.handshakeTimeout, "no WORKER_CONNECT within 10s");
    }, 10_000);
    ws.on("message", (data, isBinary) => {
      conn.lastSeenAt = Date.now();
      if (!isBinary) {
        ws.close(CloseCode.malformed, "text frame: Connect frames are binary ConnectMessage protobufs");
        return;
      }
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      void this.onMessage(conn, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).catch((error) => {
        const why = error instanceof WireError || error instanceof StepwiseError ? error.message : `internal error: ${(error as Error).message}`;
        this.options.logger.warn(`stepwise connect: closing connection ${conn.id || "(handshake)"}: ${why}`);
        ws.close(error instanceof StepwiseError ? CloseCode.syncFailed : CloseCode.malformed, closeReason(why));
      });
    });
    ws.on("close", () => {
      clearTimeout(handshake);
      conn.state = "closed";
      for (const app of conn.apps) this.appLastSeen.set(app, Date.now());
      if (conn.id && this.connections.get(conn.id) === conn) this.connections.delete(conn.id);
      // calls in flight stay pending: the worker may extend and answer them over a new
      // connection (or `/v0/connect/flush`); the lease timeout retries them otherwise
    });
    ws.on("error", (error) => this.options.logger.warn(`stepwise connect: connection ${conn.id}: ${error.message}`));
    this.send(conn, MessageKind.GATEWAY_HELLO);
  }

  private send(conn: Connection, kind: number, payload?: Uint8Array): boolean {
    if (conn.ws.readyState !== conn.ws.OPEN) return false;
    conn.ws.send(frame(kind, payload));
    return true;
  }

  private async onMessage(conn: Connection, bytes: Uint8Array): Promise<void> {
    const message = decode(schemas.ConnectMessage, bytes, "ConnectMessage");
    if (conn.state === "handshake") {
      if (message.kind !== MessageKind.WORKER_CONNECT) throw new WireError(`expected WORKER_CONNECT (1) first, received kind ${message.kind}`);
      return this.onConnect(conn, decode(schemas.WorkerConnectRequestData, message.payload, "WorkerConnectRequestData"));
    }
    switch (message.kind) {
      case MessageKind.WORKER_READY:
        if (conn.state === "connected") conn.state = "ready";
        this.wake();
        return;
      case MessageKind.WORKER_PAUSE:
        conn.state = "draining";
        return;
      case MessageKind.WORKER_HEARTBEAT:
        this.send(conn, MessageKind.GATEWAY_HEARTBEAT);
        return;
      case MessageKind.WORKER_REQUEST_ACK: {
        const ack = decode(schemas.WorkerRequestAckData, message.payload, "WorkerRequestAckData");
        const call = this.pending.get(ack.requestId);
        if (call && conn.apps.has(call.appName)) call.lastExtendedAt = Date.now();
        return;
      }
      case MessageKind.WORKER_REQUEST_EXTEND_LEASE:
        return this.onExtendLease(conn, decode(schemas.WorkerRequestExtendLeaseData, message.payload, "WorkerRequestExtendLeaseData"));
      case MessageKind.WORKER_REPLY:
        return this.onReply(conn, decode(schemas.SDKResponse, message.payload, "SDKResponse"));
      case MessageKind.WORKER_STATUS:
        return;
      default:
        throw new WireError(`unexpected message kind ${message.kind} from a worker`);
    }
  }

  private onConnect(conn: Connection, hello: Message<typeof schemas.WorkerConnectRequestData>): void {
    const session = this.sessions.get(hello.connectionId);
    if (!session || session.expiresAt < Date.now() || session.token !== hello.authData?.sessionToken) {
      this.options.logger.warn(`stepwise connect: refused a worker: unknown or expired session for connection ${JSON.stringify(hello.connectionId)}`);
      conn.ws.close(CloseCode.unauthorized, "unknown or expired session token: call POST /v0/connect/start first");
      return;
    }
    this.sessions.delete(hello.connectionId);
    if (hello.apps.length === 0) throw new StepwiseError("invalid_argument", "WORKER_CONNECT names no apps");
    const synced: Array<{ appName: string; functions: WireFunction[] }> = [];
    for (const app of hello.apps) {
      if (!app.appName) throw new StepwiseError("invalid_argument", "WORKER_CONNECT: an app without app_name");
      let functions: unknown;
      try {
        functions = JSON.parse(new TextDecoder().decode(app.functions) || "[]");
      } catch {
        throw new StepwiseError("invalid_argument", `app ${app.appName}: functions are not JSON`);
      }
      if (!Array.isArray(functions)) throw new StepwiseError("invalid_argument", `app ${app.appName}: functions must be a JSON array`);
      synced.push({ appName: app.appName, functions: functions as WireFunction[] });
    }
    const prepared = synced.map((app) => this.prepareApp(app.appName, app.functions)); // all-or-nothing
    for (const handles of prepared) this.applyApp(handles);
    conn.id = hello.connectionId;
    conn.instanceId = hello.instanceId;
    conn.apps = new Set(synced.map((a) => a.appName));
    conn.maxConcurrency = hello.maxWorkerConcurrency && hello.maxWorkerConcurrency > 0 ? hello.maxWorkerConcurrency : undefined;
    conn.state = hello.workerManualReadinessAck ? "connected" : "ready";
    this.connections.set(conn.id, conn);
    for (const app of synced) {
      void this.options.engine.store
        .saveApp({
          url: `${connectAppPrefix}${app.appName}`,
          appName: app.appName,
          functions: app.functions,
          syncedAt: Date.now(),
          sdk: hello.sdkVersion,
          framework: "connect",
        })
        .catch((error) => this.options.logger.warn(`stepwise connect: could not store app ${app.appName}: ${(error as Error).message}`));
    }
    this.send(
      conn,
      MessageKind.GATEWAY_CONNECTION_READY,
      encode(schemas.GatewayConnectionReadyData, { heartbeatInterval: seconds(this.heartbeatMs), extendLeaseInterval: seconds(this.extendMs) }),
    );
    this.wake();
  }

  /** Registers (or replaces) an app's functions; all-or-nothing, errors name function and field. */
  private registerApp(appName: string, functions: WireFunction[]): void {
    this.applyApp(this.prepareApp(appName, functions));
  }

  /** Validates an app's function configs into handles (throws naming function and field). */
  private prepareApp(appName: string, functions: WireFunction[]): { appName: string; handles: ConnectFunction[] } {
    const handles = functions.map((wire) => {
      // the worker's step URLs are `wss://connect?…`: the socket, not an address to call
      const steps = Object.fromEntries(
        Object.entries(wire.steps ?? { step: {} }).map(([k, s]) => [k, { ...s, runtime: { type: "http", url: "http://connect.invalid/" } }]),
      );
      const { config } = fromWire({ ...wire, steps }, appName);
      return new ConnectFunction(config, appName, this);
    });
    return { appName, handles };
  }

  private applyApp({ appName, handles }: { appName: string; handles: ConnectFunction[] }): void {
    this.options.engine.register({ functions: handles });
    const ids = handles.map((h) => h.config.id);
    const removed = (this.appFunctions.get(appName) ?? []).filter((id) => !ids.includes(id));
    if (removed.length) this.options.engine.unregister(removed);
    this.appFunctions.set(appName, ids);
  }

  private onExtendLease(conn: Connection, req: Message<typeof schemas.WorkerRequestExtendLeaseData>): void {
    const call = this.pending.get(req.requestId);
    const ok = call && !call.lost && conn.apps.has(call.appName) && call.leaseId === req.leaseId;
    let newLeaseId: string | undefined;
    if (ok) {
      call.leaseId = newLeaseId = randomUUID();
      call.lastExtendedAt = Date.now();
    }
    this.send(
      conn,
      MessageKind.WORKER_REQUEST_EXTEND_LEASE_ACK,
      encode(schemas.WorkerRequestExtendLeaseAckData, {
        requestId: req.requestId,
        accountId: req.accountId,
        envId: req.envId,
        appId: req.appId,
        functionSlug: req.functionSlug,
        ...(newLeaseId ? { newLeaseId } : {}),
      }),
    );
  }

  private async onReply(conn: Connection | undefined, reply: Message<typeof schemas.SDKResponse>): Promise<void> {
    if (conn) this.send(conn, MessageKind.WORKER_REPLY_ACK, encode(schemas.WorkerReplyAckData, { requestId: reply.requestId }));
    await this.acceptReply(reply, conn);
  }

  /** `POST /v0/connect/flush`: a reply the worker could not deliver on a socket. */
  async flush(body: Uint8Array): Promise<Uint8Array> {
    const reply = decode(schemas.SDKResponse, body, "SDKResponse");
    if (!reply.requestId) throw new StepwiseError("invalid_argument", "flush: SDKResponse without request_id");
    await this.acceptReply(reply, undefined);
    return encode(schemas.FlushResponse, { requestId: reply.requestId });
  }

  private async acceptReply(reply: Message<typeof schemas.SDKResponse>, conn: Connection | undefined): Promise<void> {
    const call = this.pending.get(reply.requestId);
    if (!call || (conn && !conn.apps.has(call.appName))) return; // late (already retried) or not this worker's: dropped
    const result = await decodeReply(reply, `worker of app ${call.appName}`, Date.now());
    call.settle(result);
  }

  /** One call: to a ready worker of the function's app, waiting for one if none is. */
  async dispatch(fn: ConnectFunction, input: ExecutionInput, payload: Uint8Array): Promise<ExecutionResult> {
    const conn = await this.pick(fn.appName, input.signal);
    if (input.signal?.aborted) return transportError("the engine gave this call up (lease lost) before it was sent");
    if (!conn) {
      return transportError(this.closed ? "the server is shutting down" : `no Connect worker of app ${fn.appName} is connected to this server and ready`);
    }
    const requestId = randomUUID();
    const leaseId = randomUUID();
    return new Promise<ExecutionResult>((resolve) => {
      const now = Date.now();
      const timeout = setTimeout(
        () => call.settle(transportError(`the worker took longer than ${this.options.callTimeoutMs ?? 300_000} ms`)),
        this.options.callTimeoutMs ?? 300_000,
      );
      const onAbort = () => {
        call.lost = true;
        call.settle(transportError("the engine gave this call up (lease lost)"));
      };
      const call: PendingCall = {
        requestId,
        appName: fn.appName,
        functionId: fn.config.id,
        runId: input.runId,
        leaseId,
        connectionId: conn.id,
        lastExtendedAt: now,
        startedAt: now,
        lost: false,
        settle: (result) => {
          if (!this.pending.has(requestId)) return;
          this.pending.delete(requestId);
          for (const c of this.connections.values()) c.inFlight.delete(requestId);
          conn.inFlight.delete(requestId);
          clearTimeout(timeout);
          input.signal?.removeEventListener("abort", onAbort);
          this.wake();
          resolve(result);
        },
      };
      this.pending.set(requestId, call);
      conn.inFlight.add(requestId);
      input.signal?.addEventListener("abort", onAbort, { once: true });
      const sent = this.send(
        conn,
        MessageKind.GATEWAY_EXECUTOR_REQUEST,
        encode(schemas.GatewayExecutorRequestData, {
          requestId,
          appId: fn.appName,
          appName: fn.appName,
          functionId: fn.config.id,
          functionSlug: fn.config.id,
          stepId: input.targetStepId ?? "step",
          requestPayload: payload,
          // the call's span, so the worker's spans join the run's trace
          userTraceCtx: connectTraceContext(),
          runId: input.runId,
          leaseId,
          jobId: requestId,
        }),
      );
      if (!sent) call.settle(transportError(`the connection to the worker of app ${fn.appName} closed before the call was sent`));
    });
  }

  private available(appName: string): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.connections.values()) {
      if (c.state !== "ready" || !c.apps.has(appName)) continue;
      if (c.maxConcurrency !== undefined && c.inFlight.size >= c.maxConcurrency) continue;
      if (!best || c.inFlight.size < best.inFlight.size) best = c;
    }
    return best;
  }

  private hasConnection(appName: string): boolean {
    for (const c of this.connections.values()) if (c.apps.has(appName)) return true;
    return false;
  }

  private async pick(appName: string, signal: AbortSignal | undefined): Promise<Connection | undefined> {
    const recent = Date.now() - (this.appLastSeen.get(appName) ?? 0) < (this.options.recentWorkerMs ?? 60_000);
    if (!this.available(appName) && !recent && !this.hasConnection(appName)) return undefined;
    const deadline = Date.now() + (this.options.noWorkerWaitMs ?? 10_000);
    for (;;) {
      const conn = this.available(appName);
      if (conn || this.closed || signal?.aborted || Date.now() >= deadline) return conn;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          this.waiters.delete(wake);
          resolve();
        };
        const t = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.waiters.add(wake);
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Closes silent connections and fails calls whose lease went unextended. */
  private sweep(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (now - conn.lastSeenAt > 2.5 * this.heartbeatMs) {
        this.options.logger.warn(`stepwise connect: connection ${conn.id} sent nothing for ${now - conn.lastSeenAt} ms; closing it`);
        conn.ws.close(CloseCode.heartbeatTimeout, "no heartbeat");
        conn.ws.terminate();
        this.connections.delete(conn.id);
      }
    }
    for (const call of this.pending.values()) {
      if (now - call.lastExtendedAt > this.leaseTimeoutMs) {
        this.options.logger.warn(
          `stepwise connect: the lease of call ${call.requestId} (run ${call.runId}) was not extended for ${now - call.lastExtendedAt} ms; retrying it`,
        );
        call.lost = true;
        call.settle(transportError(`the worker stopped extending the lease of this call (no extension for ${now - call.lastExtendedAt} ms)`));
      }
    }
  }

  /**
   * First step of a shutdown: no new sessions or sockets; the connected workers keep
   * serving, so the engine can finish its calls in flight before `close()`.
   */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Open WebSockets (the HTTP server still counts them as its connections). */
  socketCount(): number {
    return this.wss.clients.size;
  }

  /**
   * Stops taking connections, tells workers (`GATEWAY_CLOSING`: they reconnect elsewhere or
   * later) and closes every socket. Calls in flight fail as retriable.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.wake();
    for (const conn of this.connections.values()) {
      this.send(conn, MessageKind.GATEWAY_CLOSING);
      conn.ws.close(CloseCode.goingAway, "server shutting down");
    }
    for (const call of [...this.pending.values()]) call.settle(transportError("the server shut down during the call"));
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const c of this.wss.clients) c.terminate();
        resolve();
      }, 1_000);
      t.unref();
      this.wss.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.connections.clear();
  }
}
