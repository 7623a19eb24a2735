/**
 * The Connect gateway spoken to frame by frame (no SDK): the handshake, a call's request
 * payload, lease extension (a new lease id for the current lease, none for a stale one),
 * heartbeats, a reply delivered through `POST /v0/connect/flush`, and a late reply dropped.
 * The official SDK's own worker is exercised end to end in connect.test.ts.
 */
import { type RunningServer, runServer } from "@stepwise/cli";
import type { ExecutionInput } from "@stepwise/protocol";
import { silentLogger } from "@stepwise/protocol";
import { ConnectFunction, connectSubprotocol, connectWire } from "@stepwise/server";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

const { decode, encode, frame, MessageKind, ResponseStatus, schemas } = connectWire;

let server: RunningServer | undefined;
let socket: WebSocket | undefined;
afterEach(async () => {
  socket?.terminate();
  await server?.close();
  server = undefined;
});

/** A raw worker: every frame received, and a way to wait for the next of a kind. */
function rawWorker(endpoint: string) {
  const ws = new WebSocket(endpoint, [connectSubprotocol]);
  socket = ws;
  const inbox: Array<{ kind: number; payload: Uint8Array }> = [];
  const waiting = new Set<() => void>();
  ws.on("message", (data: Buffer) => {
    inbox.push(decode(schemas.ConnectMessage, new Uint8Array(data)));
    for (const w of [...waiting]) w();
  });
  const next = (kind: number, timeoutMs = 5_000) =>
    new Promise<Uint8Array>((resolve, reject) => {
      const check = () => {
        const i = inbox.findIndex((m) => m.kind === kind);
        if (i < 0) return;
        const [m] = inbox.splice(i, 1);
        waiting.delete(check);
        clearTimeout(timer);
        resolve((m as { payload: Uint8Array }).payload);
      };
      const timer = setTimeout(() => reject(new Error(`no message of kind ${kind}; inbox ${JSON.stringify(inbox.map((m) => m.kind))}`)), timeoutMs);
      waiting.add(check);
      check();
    });
  const send = (kind: number, payload?: Uint8Array) => ws.send(frame(kind, payload));
  return { ws, next, send };
}

const wireFunction = {
  id: "raw-answer",
  name: "answer",
  triggers: [{ event: "raw/go" }],
  steps: { step: { id: "step", name: "step", runtime: { type: "ws", url: "wss://connect?fnId=raw-answer&stepId=step" } } },
};

describe("Connect gateway, frame by frame", () => {
  it("hands a call to a raw worker, extends its lease, and takes the reply through /v0/connect/flush", async () => {
    server = await runServer({
      mode: "dev",
      port: 0,
      db: ":memory:",
      logRuns: false,
      dashboard: false,
      logger: silentLogger,
      connect: { heartbeatIntervalMs: 1_000, extendLeaseIntervalMs: 1_000, leaseTimeoutMs: 5_000 },
    });
    const started = await fetch(`${server.url}/v0/connect/start`, {
      method: "POST",
      headers: { "content-type": "application/protobuf" },
      body: encode(schemas.StartRequest, { excludeGateways: [] }),
    });
    expect(started.headers.get("content-type")).toBe("application/protobuf");
    const start = decode(schemas.StartResponse, new Uint8Array(await started.arrayBuffer()));
    expect(start.gatewayEndpoint).toBe(`${server.url.replace("http://", "ws://")}/v0/connect/gateway`);
    expect(start.gatewayEndpoint).not.toContain(start.sessionToken);

    const worker = rawWorker(start.gatewayEndpoint);
    await worker.next(MessageKind.GATEWAY_HELLO);
    worker.send(
      MessageKind.WORKER_CONNECT,
      encode(schemas.WorkerConnectRequestData, {
        connectionId: start.connectionId,
        instanceId: "raw",
        authData: { sessionToken: start.sessionToken, syncToken: start.syncToken },
        apps: [{ appName: "raw", functions: new TextEncoder().encode(JSON.stringify([wireFunction])) }],
        workerManualReadinessAck: true,
        sdkVersion: "raw:v1",
      }),
    );
    const ready = decode(schemas.GatewayConnectionReadyData, await worker.next(MessageKind.GATEWAY_CONNECTION_READY));
    expect(ready).toMatchObject({ heartbeatInterval: "1s", extendLeaseInterval: "1s" });
    expect(server.server.connect.list()).toMatchObject([{ state: "connected", apps: ["raw"] }]);
    worker.send(MessageKind.WORKER_READY);
    worker.send(MessageKind.WORKER_HEARTBEAT);
    await worker.next(MessageKind.GATEWAY_HEARTBEAT);

    const { ids } = await server.engine.send({ name: "raw/go", data: { q: "life" } });
    const request = decode(schemas.GatewayExecutorRequestData, await worker.next(MessageKind.GATEWAY_EXECUTOR_REQUEST));
    expect(request).toMatchObject({ appName: "raw", functionSlug: "raw-answer", stepId: "step" });
    const payload = JSON.parse(new TextDecoder().decode(request.requestPayload));
    expect(payload).toMatchObject({ event: { name: "raw/go", data: { q: "life" } }, ctx: { run_id: request.runId, attempt: 0 }, version: -1 });
    const [run] = await server.engine.listRuns({ eventId: ids[0] as string });
    expect(request.runId).toBe(run?.id);
    worker.send(MessageKind.WORKER_REQUEST_ACK, encode(schemas.WorkerRequestAckData, { requestId: request.requestId }));

    const extend = (leaseId: string) => {
      worker.send(MessageKind.WORKER_REQUEST_EXTEND_LEASE, encode(schemas.WorkerRequestExtendLeaseData, { requestId: request.requestId, leaseId }));
      return worker.next(MessageKind.WORKER_REQUEST_EXTEND_LEASE_ACK).then((b) => decode(schemas.WorkerRequestExtendLeaseAckData, b));
    };
    const renewed = await extend(request.leaseId);
    expect(renewed.requestId).toBe(request.requestId);
    expect(renewed.newLeaseId).toMatch(/\S/);
    expect(renewed.newLeaseId).not.toBe(request.leaseId);
    // the old lease id is spent: no new lease for it
    expect((await extend(request.leaseId)).newLeaseId).toBeUndefined();

    const reply = encode(schemas.SDKResponse, {
      requestId: request.requestId,
      status: ResponseStatus.DONE,
      body: new TextEncoder().encode(JSON.stringify({ answer: 42 })),
      sdkVersion: "raw:v1",
      requestVersion: 2,
    });
    const flushed = await fetch(`${server.url}/v0/connect/flush`, { method: "POST", headers: { "content-type": "application/protobuf" }, body: reply });
    expect(flushed.status).toBe(200);
    expect(decode(schemas.FlushResponse, new Uint8Array(await flushed.arrayBuffer())).requestId).toBe(request.requestId);
    const done = await server.engine.waitForRun(request.runId, { timeoutMs: 5_000 });
    expect(done).toMatchObject({ status: "Completed", output: { answer: 42 } });

    // a late reply on the socket is acknowledged and changes nothing; the finished call's lease is gone
    worker.send(MessageKind.WORKER_REPLY, reply);
    expect(decode(schemas.WorkerReplyAckData, await worker.next(MessageKind.WORKER_REPLY_ACK)).requestId).toBe(request.requestId);
    expect((await extend(renewed.newLeaseId as string)).newLeaseId).toBeUndefined();
    expect((await server.engine.getRun(request.runId))?.output).toEqual({ answer: 42 });

    // the session token was single-use
    const again = rawWorker(start.gatewayEndpoint);
    await again.next(MessageKind.GATEWAY_HELLO);
    const closed = new Promise<number>((resolve) => again.ws.once("close", (code) => resolve(code)));
    again.send(
      MessageKind.WORKER_CONNECT,
      encode(schemas.WorkerConnectRequestData, { connectionId: start.connectionId, authData: { sessionToken: start.sessionToken, syncToken: "" } }),
    );
    expect(await closed).toBe(4001);
  });
});

describe("Connect gateway: a sync it cannot take", () => {
  it("closes with 4005 naming the function and field, and registers none of the apps", async () => {
    server = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, dashboard: false, logger: silentLogger });
    const started = await fetch(`${server.url}/v0/connect/start`, {
      method: "POST",
      headers: { "content-type": "application/protobuf" },
      body: new Uint8Array(),
    });
    const start = decode(schemas.StartResponse, new Uint8Array(await started.arrayBuffer()));
    const worker = rawWorker(start.gatewayEndpoint);
    await worker.next(MessageKind.GATEWAY_HELLO);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      worker.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const bad = { ...wireFunction, id: "bad-fn", triggers: [{ nonsense: true }] };
    worker.send(
      MessageKind.WORKER_CONNECT,
      encode(schemas.WorkerConnectRequestData, {
        connectionId: start.connectionId,
        authData: { sessionToken: start.sessionToken },
        apps: [
          { appName: "raw", functions: new TextEncoder().encode(JSON.stringify([wireFunction])) },
          { appName: "bad", functions: new TextEncoder().encode(JSON.stringify([bad])) },
        ],
      }),
    );
    const { code, reason } = await closed;
    expect(code).toBe(4005);
    expect(reason).toMatch(/bad-fn.*triggers\[0\]/);
    expect(server.server.connect.list()).toEqual([]);
    // the valid app of the refused sync was not registered either: its event starts no run
    const { ids } = await server.engine.send({ name: "raw/go" });
    await new Promise((r) => setTimeout(r, 200));
    expect(await server.engine.listRuns({ eventId: ids[0] as string })).toEqual([]);
  });
});

describe("Connect gateway: a call with no worker", () => {
  it("fails at once for an app with no recent worker, and waits noWorkerWaitMs for one that was just here", async () => {
    server = await runServer({
      mode: "dev",
      port: 0,
      db: ":memory:",
      logRuns: false,
      dashboard: false,
      logger: silentLogger,
      connect: { noWorkerWaitMs: 600, recentWorkerMs: 30_000 },
    });
    const gateway = server.server.connect;
    const config = { id: "x-fn", slug: "fn", appId: "x", name: "fn", triggers: [], retries: 0 };
    const input = { runId: "r1", event: { name: "e", data: {} }, events: [], memo: new Map(), attempt: 0, maxAttempts: 1 } as unknown as ExecutionInput;
    let t0 = Date.now();
    const ghost = await new ConnectFunction(config, "ghost", gateway).execute(input);
    expect(Date.now() - t0).toBeLessThan(300);
    expect(ghost).toMatchObject({ type: "function-rejected", retriable: true, error: { message: expect.stringMatching(/no Connect worker of app ghost/) } });

    // a raw worker of app "raw" connects, then goes away
    const started = await fetch(`${server.url}/v0/connect/start`, {
      method: "POST",
      headers: { "content-type": "application/protobuf" },
      body: new Uint8Array(),
    });
    const start = decode(schemas.StartResponse, new Uint8Array(await started.arrayBuffer()));
    const worker = rawWorker(start.gatewayEndpoint);
    await worker.next(MessageKind.GATEWAY_HELLO);
    worker.send(
      MessageKind.WORKER_CONNECT,
      encode(schemas.WorkerConnectRequestData, {
        connectionId: start.connectionId,
        authData: { sessionToken: start.sessionToken },
        apps: [{ appName: "raw", functions: new TextEncoder().encode(JSON.stringify([wireFunction])) }],
      }),
    );
    await worker.next(MessageKind.GATEWAY_CONNECTION_READY);
    const gone = new Promise((resolve) => worker.ws.once("close", resolve));
    worker.ws.close();
    await gone;
    await new Promise((r) => setTimeout(r, 50));
    expect(gateway.list()).toEqual([]);
    t0 = Date.now();
    const waited = await new ConnectFunction({ ...config, id: "raw-answer", appId: "raw" }, "raw", gateway).execute(input);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect(waited).toMatchObject({ type: "function-rejected", retriable: true, error: { message: expect.stringMatching(/no Connect worker of app raw/) } });
  });
});
