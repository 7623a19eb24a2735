/**
 * @module connect/wire
 * The Connect protocol's protobuf messages (inngest-protocol §15), as schema tables read by
 * a small codec over `@bufbuild/protobuf`'s wire reader and writer. Field numbers and types
 * follow the protocol; `connect.proto` beside this file is the same schema in protobuf
 * syntax, for readers. Unknown fields are skipped, missing ones take proto3 defaults.
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** `ConnectMessage.kind`: every frame on the socket is a `ConnectMessage`. */
export const MessageKind = {
  GATEWAY_HELLO: 0,
  WORKER_CONNECT: 1,
  GATEWAY_CONNECTION_READY: 2,
  GATEWAY_EXECUTOR_REQUEST: 3,
  WORKER_READY: 4,
  WORKER_REQUEST_ACK: 5,
  WORKER_REPLY: 6,
  WORKER_REPLY_ACK: 7,
  WORKER_PAUSE: 8,
  WORKER_HEARTBEAT: 9,
  GATEWAY_HEARTBEAT: 10,
  GATEWAY_CLOSING: 11,
  WORKER_REQUEST_EXTEND_LEASE: 12,
  WORKER_REQUEST_EXTEND_LEASE_ACK: 13,
  SYNC_FAILED: 14,
  WORKER_STATUS: 15,
} as const;

/** `SDKResponse.status`. */
export const ResponseStatus = { NOT_COMPLETED: 0, DONE: 1, ERROR: 2 } as const;

type Scalar = "string" | "bytes" | "int32" | "uint32" | "int64" | "bool";
interface Field {
  no: number;
  type: Scalar | Schema;
  repeated?: boolean;
  /** Proto3 `optional`: absent decodes as `undefined`, not the default. */
  optional?: boolean;
}
/** A message: field name → number and type. */
export type Schema = { readonly [name: string]: Field };

const Timestamp = { seconds: { no: 1, type: "int64" }, nanos: { no: 2, type: "int32" } } as const satisfies Schema;

export const schemas = {
  ConnectMessage: { kind: { no: 1, type: "int32" }, payload: { no: 2, type: "bytes" } },
  StartRequest: { excludeGateways: { no: 1, type: "string", repeated: true } },
  StartResponse: {
    connectionId: { no: 1, type: "string" },
    gatewayEndpoint: { no: 2, type: "string" },
    gatewayGroup: { no: 3, type: "string" },
    sessionToken: { no: 4, type: "string" },
    syncToken: { no: 5, type: "string" },
  },
  WorkerConnectRequestData: {
    connectionId: { no: 1, type: "string" },
    instanceId: { no: 2, type: "string" },
    authData: { no: 3, type: { sessionToken: { no: 1, type: "string" }, syncToken: { no: 2, type: "string" } } },
    capabilities: { no: 4, type: "bytes" },
    apps: {
      no: 5,
      repeated: true,
      type: {
        appName: { no: 1, type: "string" },
        appVersion: { no: 2, type: "string", optional: true },
        functions: { no: 4, type: "bytes" },
      },
    },
    workerManualReadinessAck: { no: 6, type: "bool" },
    systemAttributes: { no: 7, type: { cpuCores: { no: 1, type: "int32" }, memBytes: { no: 2, type: "int64" }, os: { no: 3, type: "string" } } },
    environment: { no: 8, type: "string", optional: true },
    framework: { no: 9, type: "string" },
    platform: { no: 10, type: "string", optional: true },
    sdkVersion: { no: 11, type: "string" },
    sdkLanguage: { no: 12, type: "string" },
    startedAt: { no: 13, type: Timestamp },
    maxWorkerConcurrency: { no: 14, type: "int64", optional: true },
  },
  GatewayConnectionReadyData: {
    heartbeatInterval: { no: 1, type: "string" },
    extendLeaseInterval: { no: 2, type: "string" },
    statusInterval: { no: 3, type: "string" },
  },
  GatewayExecutorRequestData: {
    requestId: { no: 1, type: "string" },
    accountId: { no: 2, type: "string" },
    envId: { no: 3, type: "string" },
    appId: { no: 4, type: "string" },
    appName: { no: 5, type: "string" },
    functionId: { no: 6, type: "string" },
    functionSlug: { no: 7, type: "string" },
    stepId: { no: 8, type: "string", optional: true },
    requestPayload: { no: 9, type: "bytes" },
    systemTraceCtx: { no: 10, type: "bytes" },
    userTraceCtx: { no: 11, type: "bytes" },
    runId: { no: 12, type: "string" },
    leaseId: { no: 13, type: "string" },
    jobId: { no: 14, type: "string" },
  },
  WorkerRequestAckData: {
    requestId: { no: 1, type: "string" },
    appId: { no: 4, type: "string" },
    functionSlug: { no: 5, type: "string" },
    runId: { no: 9, type: "string" },
  },
  WorkerRequestExtendLeaseData: {
    requestId: { no: 1, type: "string" },
    accountId: { no: 2, type: "string" },
    envId: { no: 3, type: "string" },
    appId: { no: 4, type: "string" },
    functionSlug: { no: 5, type: "string" },
    stepId: { no: 6, type: "string", optional: true },
    runId: { no: 9, type: "string" },
    leaseId: { no: 10, type: "string" },
  },
  WorkerRequestExtendLeaseAckData: {
    requestId: { no: 1, type: "string" },
    accountId: { no: 2, type: "string" },
    envId: { no: 3, type: "string" },
    appId: { no: 4, type: "string" },
    functionSlug: { no: 5, type: "string" },
    newLeaseId: { no: 6, type: "string", optional: true },
  },
  SDKResponse: {
    requestId: { no: 1, type: "string" },
    accountId: { no: 2, type: "string" },
    envId: { no: 3, type: "string" },
    appId: { no: 4, type: "string" },
    status: { no: 5, type: "int32" },
    body: { no: 6, type: "bytes" },
    noRetry: { no: 7, type: "bool" },
    retryAfter: { no: 8, type: "string", optional: true },
    sdkVersion: { no: 9, type: "string" },
    requestVersion: { no: 10, type: "uint32" },
    runId: { no: 13, type: "string" },
  },
  WorkerReplyAckData: { requestId: { no: 1, type: "string" } },
  WorkerStatusData: { inFlightRequestIds: { no: 1, type: "string", repeated: true }, shutdownRequested: { no: 2, type: "bool" } },
  FlushResponse: { requestId: { no: 1, type: "string" } },
} as const satisfies Record<string, Schema>;

/** The decoded shape of a schema (proto3 defaults for absent scalars). */
export type Message<S extends Schema> = {
  -readonly [K in keyof S]: S[K] extends { repeated: true }
    ? NonNullable<FieldValue<S[K]["type"]>>[]
    : S[K] extends { optional: true }
      ? FieldValue<S[K]["type"]> | undefined
      : FieldValue<S[K]["type"]>;
};
type FieldValue<T> = T extends "string"
  ? string
  : T extends "bytes"
    ? Uint8Array
    : T extends "bool"
      ? boolean
      : T extends "int32" | "uint32" | "int64"
        ? number
        : T extends Schema
          ? Message<T> | undefined
          : never;

/** What `encode` takes: every field may be left out (it is then not written). */
export type MessageInput<S extends Schema> = {
  -readonly [K in keyof S]?: S[K] extends { repeated: true } ? InputValue<S[K]["type"]>[] : InputValue<S[K]["type"]> | undefined;
};
type InputValue<T> = T extends Schema ? MessageInput<T> : NonNullable<FieldValue<T>>;

/** Thrown for bytes that are not a valid message (the gateway closes the socket naming it). */
export class WireError extends Error {}

const wireTypeOf = (type: Field["type"]): WireType =>
  typeof type === "object" || type === "string" || type === "bytes" ? WireType.LengthDelimited : WireType.Varint;

function writeValue(writer: BinaryWriter, field: Field, value: unknown): void {
  writer.tag(field.no, wireTypeOf(field.type));
  switch (field.type) {
    case "string":
      writer.string(String(value));
      return;
    case "bytes":
      writer.bytes(value as Uint8Array);
      return;
    case "bool":
      writer.bool(Boolean(value));
      return;
    case "int32":
      writer.int32(Number(value));
      return;
    case "uint32":
      writer.uint32(Number(value));
      return;
    case "int64":
      writer.int64(Math.trunc(Number(value)));
      return;
    default:
      writer.fork();
      writeFields(writer, field.type, value as Record<string, unknown>);
      writer.join();
  }
}

function isDefault(field: Field, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (field.optional || typeof field.type === "object") return false;
  if (field.type === "bytes") return (value as Uint8Array).length === 0;
  return value === "" || value === 0 || value === false;
}

function writeFields(writer: BinaryWriter, schema: Schema, message: Record<string, unknown>): void {
  for (const [name, field] of Object.entries(schema)) {
    const value = message[name];
    if (field.repeated) {
      for (const item of (value as unknown[] | undefined) ?? []) writeValue(writer, field, item);
    } else if (!isDefault(field, value)) writeValue(writer, field, value);
  }
}

/** Encodes `message` (absent fields are left out). */
export function encode<S extends Schema>(schema: S, message: MessageInput<S>): Uint8Array<ArrayBuffer> {
  const writer = new BinaryWriter();
  writeFields(writer, schema, message as Record<string, unknown>);
  return writer.finish();
}

function readValue(reader: BinaryReader, type: Field["type"]): unknown {
  switch (type) {
    case "string":
      return reader.string();
    case "bytes":
      return reader.bytes();
    case "bool":
      return reader.bool();
    case "int32":
      return reader.int32();
    case "uint32":
      return reader.uint32();
    case "int64":
      return Number(reader.int64());
    default:
      return readFields(new BinaryReader(reader.bytes()), type);
  }
}

function defaults(schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    if (field.repeated) out[name] = [];
    else if (field.optional || typeof field.type === "object") out[name] = undefined;
    else out[name] = field.type === "string" ? "" : field.type === "bytes" ? new Uint8Array() : field.type === "bool" ? false : 0;
  }
  return out;
}

function readFields(reader: BinaryReader, schema: Schema): Record<string, unknown> {
  const byNo = new Map(Object.entries(schema).map(([name, field]) => [field.no, [name, field] as const]));
  const out = defaults(schema);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    const entry = byNo.get(no);
    if (!entry || wireType !== wireTypeOf(entry[1].type)) {
      reader.skip(wireType, no);
      continue;
    }
    const [name, field] = entry;
    const value = readValue(reader, field.type);
    if (field.repeated) (out[name] as unknown[]).push(value);
    else out[name] = value;
  }
  return out;
}

/** Decodes `bytes` as `schema`; throws `WireError` naming the message when they are not one. */
export function decode<S extends Schema>(schema: S, bytes: Uint8Array, what = "message"): Message<S> {
  try {
    return readFields(new BinaryReader(bytes), schema) as Message<S>;
  } catch (cause) {
    throw new WireError(`malformed ${what}: ${(cause as Error).message}`);
  }
}

/** One socket frame: a `ConnectMessage` of `kind` wrapping `payload`. */
export function frame(kind: number, payload?: Uint8Array): Uint8Array<ArrayBuffer> {
  return encode(schemas.ConnectMessage, payload ? { kind, payload } : { kind });
}
