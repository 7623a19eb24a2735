/**
 * The Connect message codec against the official SDK's generated protobuf code (read here
 * as an independent encoder/decoder): same bytes both ways, unknown fields skipped,
 * malformed bytes a `WireError` naming the message.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { decode, encode, frame, MessageKind, schemas, WireError } from "./wire.ts";

/** One generated message type of the SDK (untyped: the SDK does not export these). */
interface Generated {
  create(fields: Record<string, unknown>): unknown;
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): Record<string, unknown> & { payload: Uint8Array; requestPayload: Uint8Array; kind: number };
}
const require = createRequire(import.meta.url);
// the package root: `inngest` resolves to <root>/index.cjs
const sdkDir = dirname(require.resolve("inngest"));
const { ConnectMessage, GatewayExecutorRequestData, SDKResponse, StartResponse, WorkerConnectRequestData } = require(
  join(sdkDir, "proto/src/components/connect/protobuf/connect.cjs"),
) as Record<"ConnectMessage" | "GatewayExecutorRequestData" | "SDKResponse" | "StartResponse" | "WorkerConnectRequestData", Generated>;

describe("connect wire codec", () => {
  it("decodes what the SDK encodes, nested and repeated fields included", () => {
    const bytes = WorkerConnectRequestData.encode(
      WorkerConnectRequestData.create({
        connectionId: "c1",
        instanceId: "host-1",
        authData: { sessionToken: "s", syncToken: "t" },
        apps: [
          { appName: "a", appVersion: "v2", functions: new TextEncoder().encode("[]") },
          { appName: "b", functions: new Uint8Array() },
        ],
        workerManualReadinessAck: true,
        systemAttributes: { cpuCores: 2, memBytes: 8_589_934_592, os: "linux" },
        sdkVersion: "v4.24.0",
        maxWorkerConcurrency: 7,
        startedAt: new Date(1_700_000_000_000),
      }),
    ).finish();
    const m = decode(schemas.WorkerConnectRequestData, bytes);
    expect(m).toMatchObject({
      connectionId: "c1",
      instanceId: "host-1",
      authData: { sessionToken: "s", syncToken: "t" },
      workerManualReadinessAck: true,
      systemAttributes: { cpuCores: 2, memBytes: 8_589_934_592, os: "linux" },
      sdkVersion: "v4.24.0",
      maxWorkerConcurrency: 7,
      startedAt: { seconds: 1_700_000_000, nanos: 0 },
      environment: undefined,
    });
    expect(m.apps.map((a) => [a.appName, a.appVersion, new TextDecoder().decode(a.functions)])).toEqual([
      ["a", "v2", "[]"],
      ["b", undefined, ""],
    ]);
  });

  it("encodes what the SDK decodes", () => {
    const start = StartResponse.decode(encode(schemas.StartResponse, { connectionId: "x", gatewayEndpoint: "ws://h/g", sessionToken: "tok" }));
    expect(start).toEqual({ connectionId: "x", gatewayEndpoint: "ws://h/g", gatewayGroup: "", sessionToken: "tok", syncToken: "" });
    const req = GatewayExecutorRequestData.decode(
      encode(schemas.GatewayExecutorRequestData, { requestId: "r", appName: "a", stepId: "step", requestPayload: new Uint8Array([1, 2]), leaseId: "l" }),
    );
    expect(req).toMatchObject({ requestId: "r", appName: "a", stepId: "step", leaseId: "l", runId: "" });
    expect([...req.requestPayload]).toEqual([1, 2]);
    const msg = ConnectMessage.decode(frame(MessageKind.GATEWAY_HEARTBEAT));
    expect(msg.kind).toBe(MessageKind.GATEWAY_HEARTBEAT);
    expect(msg.payload.length).toBe(0);
    // HELLO is kind 0, the proto3 default: an empty frame
    expect(frame(MessageKind.GATEWAY_HELLO).length).toBe(0);
    expect(decode(schemas.ConnectMessage, frame(MessageKind.GATEWAY_HELLO)).kind).toBe(0);
  });

  it("skips unknown fields and rejects malformed bytes with a WireError naming the message", () => {
    const reply = SDKResponse.encode(
      SDKResponse.create({ requestId: "r", status: 2, noRetry: true, systemTraceCtx: new Uint8Array([9]), requestVersion: 2 }),
    ).finish();
    expect(decode(schemas.SDKResponse, reply)).toMatchObject({ requestId: "r", status: 2, noRetry: true, requestVersion: 2 });
    expect(() => decode(schemas.SDKResponse, new Uint8Array([0x0a, 0x05, 0x61]), "SDKResponse")).toThrow(WireError);
    expect(() => decode(schemas.SDKResponse, new Uint8Array([0x0a, 0x05, 0x61]), "SDKResponse")).toThrow(/malformed SDKResponse/);
  });
});
