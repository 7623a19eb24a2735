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
 * - Several nodes on one database: with a `nodeUrl` and a `nodeSecret`, each ready
 *   connection is written to the `connect_connections` registry (at `WORKER_READY`,
 *   refreshed every `registryIntervalMs`, deleted on close; rows not refreshed for three
 *   intervals are of a dead node and ignored). A call with no ready worker here is
 *   forwarded (`POST <node_url>/v0/connect/forward`, HMAC-signed) to a node that holds one;
 *   this node's engine keeps the call's lease, and a forward that reaches no worker is an
 *   "app unreachable" result (retried without spending the function's retries).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ConnectConnectionRecord, Engine } from "@stepwise/engine";
import { type ExecutionInput, type ExecutionResult, type Logger, StepwiseError } from "@stepwise/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import { fromWire, type WireFunction } from "../driver/wire-config.ts";
import { connectTraceContext } from "../tracing.ts";
import { type ConnectDispatcher, ConnectFunction, decodeReply } from "./connect-function.ts";
import { type ForwardCall, forwardPath, forwardSignatureHeader, signForward } from "./forward.ts";
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
  /** This node's id in the connection registry. (Default: a random id per process.) */
  nodeId?: string;
  /**
   * Where other nodes reach this node (`--node-url`). With it (and `nodeSecret`) this node's
   * connections are written to the registry, so other nodes forward calls here.
   */
  nodeUrl?: string;
  /** The secret node-to-node forwards are signed with; without it this node neither forwards nor accepts forwards. */
  nodeSecret?: string;
  /** How often this node refreshes its registry rows; rows older than three intervals are dead. (Default: 3,000 ms.) */
  registryIntervalMs?: number;
}

/** What became of a call sent to a worker: its reply, or why there is none (`delivered`: the worker had received it). */
export type CallOutcome = { reply: Message<typeof schemas.SDKResponse> } | { failure: string; delivered: boolean };

type Target = { local: Connection } | { remote: ConnectConnectionRecord };

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
  settle(outcome: CallOutcome): void;
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

/** No worker got the call: the engine retries it later without spending an attempt (its app-outage handling). */
function unreachable(message: string): ExecutionResult {
  return { type: "function-rejected", error: { name: "ConnectTransportError", message }, retriable: true, unreachable: true };
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
  /** The stored sync of each app last registered here. */
  private readonly appSyncedAt = new Map<string, number>();
  /** When a worker of each app was last connected here (or the node started, for stored apps). */
  private readonly appLastSeen = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly heartbeatMs: number;
  private readonly extendMs: number;
  private readonly leaseTimeoutMs: number;
  private closed = false;
  private accepting = true;
  /** This node in the registry. */
  readonly nodeId: string;
  private readonly registryMs: number;
  private registryTimer: NodeJS.Timeout | undefined;
  /** Registry writes, in order (a close's delete never lands before the ready's insert). */
  private registryChain: Promise<void> = Promise.resolve();
  /** Connections whose rows are in the registry. */
  private readonly registered = new Set<string>();
  /** Other nodes' live rows per app, read at most every quarter interval. */
  private readonly remoteCache = new Map<string, { at: number; rows: Promise<ConnectConnectionRecord[]> }>();
  /** Nodes a forward just failed to reach: skipped until their rows are refreshed past this time. */
  private readonly avoid = new Map<string, number>();
  /** Calls forwarded to other nodes, and calls served for them. */
  private readonly forwards = { sent: 0, served: 0, failed: 0 };

  constructor(private readonly options: ConnectGatewayOptions) {
    this.heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    this.extendMs = options.extendLeaseIntervalMs ?? 5_000;
    this.leaseTimeoutMs = options.leaseTimeoutMs ?? 2 * this.extendMs + 2_000;
    this.nodeId = options.nodeId ?? `node_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    this.registryMs = options.registryIntervalMs ?? 3_000;
    this.timer = setInterval(() => this.sweep(), Math.min(1_000, this.extendMs / 2));
    this.timer.unref();
    if (this.advertises) {
      this.registryTimer = setInterval(() => this.refreshRegistry(), this.registryMs);
      this.registryTimer.unref();
    }
  }

  /** This node writes its connections to the registry (other nodes can forward here). */
  private get advertises(): boolean {
    return !!this.options.nodeUrl && !!this.options.nodeSecret;
  }

  /** This node, as `GET /v1/connect/connections` shows it. */
  node(): { id: string; url: string | null; forwarding: boolean; forwards: { sent: number; served: number; failed: number } } {
    return { id: this.nodeId, url: this.options.nodeUrl ?? null, forwarding: !!this.options.nodeSecret, forwards: { ...this.forwards } };
  }

  private registry(op: () => Promise<unknown>, what: string): Promise<void> {
    this.registryChain = this.registryChain.then(op).then(
      () => {},
      (error) => this.options.logger.warn(`stepwise connect: could not ${what} in the connection registry: ${(error as Error).message}`),
    );
    return this.registryChain;
  }

  private rowsOf(conn: Connection, now: number): ConnectConnectionRecord[] {
    const state = conn.state === "draining" ? "draining" : "ready";
    return [...conn.apps].map((appName) => ({
      connectionId: conn.id,
      appName,
      nodeId: this.nodeId,
      nodeUrl: this.options.nodeUrl as string,
      state,
      lastSeenAt: now,
    }));
  }

  /** Writes one connection's rows now (at `WORKER_READY` and `WORKER_PAUSE`). */
  private publish(conn: Connection): void {
    if (!this.advertises || !this.accepting || (conn.state !== "ready" && conn.state !== "draining")) return;
    this.registered.add(conn.id);
    void this.registry(() => this.options.engine.store.saveConnectConnections(this.rowsOf(conn, Date.now())), "write a connection");
  }

  private unpublish(connectionId: string): void {
    if (!this.registered.delete(connectionId)) return;
    void this.registry(() => this.options.engine.store.deleteConnectConnections({ connectionId }), "delete a connection");
  }

  /** Refreshes this node's rows (one batch) and deletes rows long dead. */
  private refreshRegistry(): void {
    const now = Date.now();
    const rows = [...this.connections.values()].filter((c) => this.registered.has(c.id)).flatMap((c) => this.rowsOf(c, now));
    void this.registry(async () => {
      await this.options.engine.store.saveConnectConnections(rows);
      await this.options.engine.store.deleteConnectConnections({ seenBefore: now - Math.max(60_000, 10 * this.registryMs) });
    }, "refresh this node's connections");
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
    await this.refreshApps(true);
  }

  /**
   * Registers Connect apps other nodes stored since the last look (a worker that synced on
   * another node): events arriving here then start their runs, and their calls are
   * forwarded to that node. Every `everyMs`; returns the function that stops it.
   */
  startRefreshing(everyMs = 2_000): () => void {
    const timer = setInterval(() => {
      void this.refreshApps(false).catch((error) => this.options.logger.warn(`stepwise connect: refreshing Connect apps failed: ${(error as Error).message}`));
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async refreshApps(starting: boolean): Promise<void> {
    for (const stored of await this.options.engine.store.listApps()) {
      if (!stored.url.startsWith(connectAppPrefix)) continue;
      if (stored.syncedAt <= (this.appSyncedAt.get(stored.appName) ?? Number.NEGATIVE_INFINITY)) continue;
      this.appSyncedAt.set(stored.appName, stored.syncedAt);
      try {
        this.registerApp(stored.appName, stored.functions as WireFunction[]);
        // starting: workers are reconnecting; later: a worker just synced on another node
        const seen = starting ? Date.now() : stored.syncedAt;
        this.appLastSeen.set(stored.appName, Math.max(this.appLastSeen.get(stored.appName) ?? 0, seen));
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
      if (conn.id) this.unpublish(conn.id);
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
        this.publish(conn);
        this.wake();
        return;
      case MessageKind.WORKER_PAUSE:
        conn.state = "draining";
        this.publish(conn);
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
    const syncedAt = Date.now();
    for (const app of synced) {
      this.appSyncedAt.set(app.appName, syncedAt);
      void this.options.engine.store
        .saveApp({
          url: `${connectAppPrefix}${app.appName}`,
          appName: app.appName,
          functions: app.functions,
          syncedAt,
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
    this.publish(conn);
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
    call.settle({ reply });
  }

  /**
   * One call: to a ready worker of the function's app here; with none, forwarded to a node
   * that holds one; with neither, waiting for one (see `pick`).
   */
  async dispatch(fn: ConnectFunction, input: ExecutionInput, payload: Uint8Array): Promise<ExecutionResult> {
    const target = await this.pick(fn.appName, input.signal, true);
    if (input.signal?.aborted) return transportError("the engine gave this call up (lease lost) before it was sent");
    if (!target) {
      return transportError(this.closed ? "the server is shutting down" : `no Connect worker of app ${fn.appName} is connected to this server and ready`);
    }
    const call = { appName: fn.appName, functionId: fn.config.id, stepId: input.targetStepId ?? "step", runId: input.runId };
    if ("remote" in target) {
      return this.forward(
        target.remote,
        { ...call, traceCtx: new TextDecoder().decode(connectTraceContext(input.runId)) },
        new TextDecoder().decode(payload),
        input.signal,
      );
    }
    const outcome = await this.callWorker(target.local, call, payload, input.signal);
    if ("reply" in outcome) return decodeReply(outcome.reply, `worker of app ${fn.appName}`, Date.now());
    return transportError(outcome.failure);
  }

  /**
   * `POST /v0/connect/forward` (already authenticated): a call another node claimed, for a
   * worker connected here. Never forwarded again; waits only if a worker of the app is
   * connected here but busy or not yet ready.
   */
  async serveForward(call: ForwardCall, signal: AbortSignal | undefined): Promise<CallOutcome> {
    const target = await this.pick(call.appName, signal, false);
    if (!target || !("local" in target)) {
      return { failure: `no Connect worker of app ${call.appName} is connected to node ${this.nodeId} and ready`, delivered: false };
    }
    this.forwards.served++;
    return this.callWorker(target.local, call, new TextEncoder().encode(call.payload), signal);
  }

  /** A call sent to the node holding a worker; its answer relayed as this node's result. */
  private async forward(
    row: ConnectConnectionRecord,
    call: ForwardCall | Omit<ForwardCall, "payload">,
    payload: string,
    signal: AbortSignal | undefined,
  ): Promise<ExecutionResult> {
    const secret = this.options.nodeSecret as string;
    const body = JSON.stringify({ ...call, payload });
    const where = `node ${row.nodeId} (${row.nodeUrl})`;
    const timeout = AbortSignal.timeout((this.options.callTimeoutMs ?? 300_000) + 30_000);
    this.forwards.sent++;
    let response: Response;
    try {
      response = await fetch(new URL(forwardPath, row.nodeUrl), {
        method: "POST",
        headers: { "content-type": "application/json", [forwardSignatureHeader]: signForward(body, secret) },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) return transportError("the engine gave this call up (lease lost)");
      this.forwards.failed++;
      this.avoidNode(row.nodeId);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return unreachable(`forwarding to ${where} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const type = response.headers.get("content-type") ?? "";
    if (response.status === 200 && type.startsWith("application/protobuf")) {
      try {
        const reply = decode(schemas.SDKResponse, new Uint8Array(await response.arrayBuffer()), "SDKResponse");
        return decodeReply(reply, `worker of app ${call.appName} on ${where}`, Date.now());
      } catch (error) {
        this.forwards.failed++;
        return transportError(`${where}: the forwarded call's answer could not be read: ${(error as Error).message}`);
      }
    }
    this.forwards.failed++;
    const answer = (await response.json().catch(() => ({}))) as { code?: string; error?: string };
    const why = `${where} answered ${response.status}${answer.error ? `: ${answer.error}` : ""}`;
    // the worker got the call and failed to answer it (lease or call timeout): as locally, an attempt
    if (response.status === 502 && answer.code === "worker_failed") return transportError(why);
    // nothing reached a worker (gone from that node, a node shutting down, a bad secret): retried without spending an attempt
    this.avoidNode(row.nodeId);
    if (response.status === 401) this.options.logger.warn(`stepwise connect: ${why} (is the node secret the same on every node?)`);
    return unreachable(`forwarding failed: ${why}`);
  }

  private avoidNode(nodeId: string): void {
    this.avoid.set(nodeId, Date.now());
    for (const cached of this.remoteCache.values()) cached.at = 0;
  }

  /** A live, ready connection of the app on another node (from the registry), if any. */
  private async remote(appName: string): Promise<ConnectConnectionRecord | undefined> {
    if (!this.options.nodeSecret || this.closed) return undefined;
    const now = Date.now();
    let cached = this.remoteCache.get(appName);
    if (!cached || now - cached.at > this.registryMs / 4) {
      const rows = this.options.engine.store.listConnectConnections({ appName, seenSince: now - 3 * this.registryMs }).catch((error) => {
        this.options.logger.warn(`stepwise connect: could not read the connection registry: ${(error as Error).message}`);
        return [] as ConnectConnectionRecord[];
      });
      cached = { at: now, rows };
      this.remoteCache.set(appName, cached);
    }
    const live = (await cached.rows).filter((r) => {
      if (r.nodeId === this.nodeId || r.state !== "ready") return false;
      const failedAt = this.avoid.get(r.nodeId);
      // a node that failed a forward is used again once it refreshed its rows since
      return failedAt === undefined || r.lastSeenAt > failedAt + this.registryMs;
    });
    return live[Math.floor(Math.random() * live.length)];
  }

  /** Sends one call to a worker and waits for its reply (or for why there is none). */
  private callWorker(conn: Connection, fn: Omit<ForwardCall, "payload">, payload: Uint8Array, signal: AbortSignal | undefined): Promise<CallOutcome> {
    const requestId = randomUUID();
    const leaseId = randomUUID();
    return new Promise<CallOutcome>((resolve) => {
      const now = Date.now();
      const timeout = setTimeout(
        () => call.settle({ failure: `the worker took longer than ${this.options.callTimeoutMs ?? 300_000} ms`, delivered: true }),
        this.options.callTimeoutMs ?? 300_000,
      );
      const onAbort = () => {
        call.lost = true;
        call.settle({ failure: "the engine gave this call up (lease lost)", delivered: true });
      };
      const call: PendingCall = {
        requestId,
        appName: fn.appName,
        functionId: fn.functionId,
        runId: fn.runId,
        leaseId,
        connectionId: conn.id,
        lastExtendedAt: now,
        startedAt: now,
        lost: false,
        settle: (outcome) => {
          if (!this.pending.has(requestId)) return;
          this.pending.delete(requestId);
          for (const c of this.connections.values()) c.inFlight.delete(requestId);
          conn.inFlight.delete(requestId);
          clearTimeout(timeout);
          signal?.removeEventListener("abort", onAbort);
          this.wake();
          resolve(outcome);
        },
      };
      this.pending.set(requestId, call);
      conn.inFlight.add(requestId);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      const sent = this.send(
        conn,
        MessageKind.GATEWAY_EXECUTOR_REQUEST,
        encode(schemas.GatewayExecutorRequestData, {
          requestId,
          appId: fn.appName,
          appName: fn.appName,
          functionId: fn.functionId,
          functionSlug: fn.functionId,
          stepId: fn.stepId,
          requestPayload: payload,
          // the call's span (a forwarded call: the forwarding node's), so the worker's spans join the run's trace
          userTraceCtx: fn.traceCtx !== undefined ? new TextEncoder().encode(fn.traceCtx) : connectTraceContext(fn.runId),
          runId: fn.runId,
          leaseId,
          jobId: requestId,
        }),
      );
      if (!sent) call.settle({ failure: `the connection to the worker of app ${fn.appName} closed before the call was sent`, delivered: false });
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

  /**
   * Where a call goes: a ready connection here; else (`remoteToo`) a live one on another
   * node; else, if a worker of the app is connected here or was recently (or the node
   * just started), the first of those to appear within `noWorkerWaitMs`.
   */
  private async pick(appName: string, signal: AbortSignal | undefined, remoteToo: boolean): Promise<Target | undefined> {
    const recent = remoteToo && Date.now() - (this.appLastSeen.get(appName) ?? 0) < (this.options.recentWorkerMs ?? 60_000);
    const mayWait = recent || this.hasConnection(appName);
    const deadline = Date.now() + (this.options.noWorkerWaitMs ?? 10_000);
    // the registry changes without waking this node: look again every quarter interval
    const poll = remoteToo && this.options.nodeSecret ? Math.max(50, this.registryMs / 4) : Number.POSITIVE_INFINITY;
    for (;;) {
      const conn = this.available(appName);
      if (conn) return { local: conn };
      if (remoteToo) {
        const row = await this.remote(appName);
        if (row) return { remote: row };
        const again = this.available(appName);
        if (again) return { local: again };
      }
      if (!mayWait || this.closed || signal?.aborted || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          this.waiters.delete(wake);
          resolve();
        };
        const t = setTimeout(wake, Math.max(1, Math.min(poll, deadline - Date.now())));
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
        call.settle({ failure: `the worker stopped extending the lease of this call (no extension for ${now - call.lastExtendedAt} ms)`, delivered: true });
      }
    }
  }

  /**
   * First step of a shutdown: no new sessions or sockets; the connected workers keep
   * serving, so the engine can finish its calls in flight before `close()`.
   */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    // other nodes stop forwarding here: this node's workers are about to reconnect elsewhere
    // (a forward arriving meanwhile is still served while the sockets are open)
    if (this.registryTimer) clearInterval(this.registryTimer);
    for (const id of [...this.registered]) this.unpublish(id);
    return this.registryChain;
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
    // without a stopAccepting() first (runServer calls it): this node's rows go now
    if (this.accepting) void this.stopAccepting();
    this.closed = true;
    clearInterval(this.timer);
    this.wake();
    for (const conn of this.connections.values()) {
      this.send(conn, MessageKind.GATEWAY_CLOSING);
      conn.ws.close(CloseCode.goingAway, "server shutting down");
    }
    if (this.registryTimer) clearInterval(this.registryTimer);
    for (const call of [...this.pending.values()]) call.settle({ failure: "the server shut down during the call", delivered: true });
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
