/**
 * @module connect/routes
 * `POST /v0/connect/start` (a `StartRequest` → a `StartResponse` naming the gateway and a
 * session token) and `POST /v0/connect/flush` (a buffered `SDKResponse` → `FlushResponse`),
 * both `application/protobuf`. start mode takes only the hashed signing key as bearer (what
 * `connect()` sends) and answers 401 otherwise; dev mode is open, for its allowed `Host`s.
 */
import { verifyBearer } from "@stepwise/protocol";
import { type Context, Hono } from "hono";
import { hostName, requestProto } from "../auth/guard.ts";
import { errorBody } from "../errors.ts";
import { forwardPath, forwardSignatureHeader, parseForward, verifyForward } from "./forward.ts";
import { type ConnectGateway, gatewayPath } from "./gateway.ts";
import { decode, encode, schemas, WireError } from "./wire.ts";

export interface ConnectRoutesOptions {
  gateway: ConnectGateway;
  mode: "dev" | "start";
  /** start mode: the signing keys whose hashed form is accepted. */
  signingKeys: readonly string[];
  /** dev mode: the `Host` names answered, or `"any"`. */
  allowedHosts?: readonly string[] | "any";
  /** The cluster's node secrets: `POST /v0/connect/forward` needs a body signed with one (401 otherwise, and always without any). */
  nodeSecrets?: readonly string[];
}

const protobuf = { "content-type": "application/protobuf" };

export function connectRoutes(options: ConnectRoutesOptions): Hono {
  const app = new Hono();
  const refuse = (c: Context, status: 400 | 401 | 403 | 415, code: string, error: string) => c.json({ error, code, status }, status);
  // node to node: authenticated by the HMAC of its body, not by the worker credentials below
  app.post(forwardPath, async (c) => {
    const body = await c.req.text();
    if (!options.nodeSecrets?.length || !verifyForward(c.req.header(forwardSignatureHeader), body, options.nodeSecrets)) {
      return refuse(
        c,
        401,
        "unauthorized",
        options.nodeSecrets?.length
          ? `a forward needs ${forwardSignatureHeader}: the HMAC of its body with the cluster's node secret`
          : "this node takes no forwarded calls (no node secret configured)",
      );
    }
    if (c.req.header("origin") !== undefined) return refuse(c, 403, "forbidden_origin", "cross-origin forward refused");
    const call = parseForward(body);
    if (typeof call === "string") return refuse(c, 400, "invalid_argument", `malformed forward: ${call}`);
    const outcome = await options.gateway.serveForward(call, c.req.raw.signal);
    if ("reply" in outcome) return c.body(toArrayBuffer(encode(schemas.SDKResponse, outcome.reply)), 200, protobuf);
    return outcome.delivered
      ? c.json({ error: outcome.failure, code: "worker_failed", status: 502 }, 502)
      : c.json({ error: outcome.failure, code: "no_worker", status: 503 }, 503);
  });
  app.use("/v0/connect/*", async (c, next) => {
    if (options.mode === "start") {
      if (!verifyBearer(c.req.header("authorization"), options.signingKeys)) {
        return refuse(
          c,
          401,
          "unauthorized",
          "Connect needs Authorization: Bearer <hashed signing key> (connect() sends it when the client has signingKey set)",
        );
      }
    } else if (options.allowedHosts && options.allowedHosts !== "any") {
      const name = hostName(c.req.header("host") ?? new URL(c.req.url).host);
      if (!name || !options.allowedHosts.map((h) => hostName(h) ?? h).includes(name)) {
        return refuse(c, 403, "forbidden_host", `Host ${JSON.stringify(c.req.header("host") ?? "")} is not allowed`);
      }
    }
    // a cross-site page cannot send application/protobuf without a CORS preflight, never granted here
    const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/protobuf") return refuse(c, 415, "unsupported_media_type", `${c.req.path} needs content-type: application/protobuf`);
    if (c.req.header("origin") !== undefined) return refuse(c, 403, "forbidden_origin", "cross-origin Connect request refused");
    await next();
  });
  app.post("/v0/connect/start", async (c) => {
    try {
      decode(schemas.StartRequest, new Uint8Array(await c.req.arrayBuffer()), "StartRequest");
      const host = c.req.header("host") ?? new URL(c.req.url).host;
      const endpoint = `${requestProto(c) === "https" ? "wss" : "ws"}://${host}${gatewayPath}`;
      return c.body(toArrayBuffer(encodeStart(options.gateway, endpoint)), 200, protobuf);
    } catch (error) {
      const body = failure(error);
      return c.json(body, body.status as 400);
    }
  });
  app.post("/v0/connect/flush", async (c) => {
    try {
      const reply = await options.gateway.flush(new Uint8Array(await c.req.arrayBuffer()));
      return c.body(toArrayBuffer(reply), 200, protobuf);
    } catch (error) {
      const body = failure(error);
      return c.json(body, body.status as 400);
    }
  });
  return app;
}

function encodeStart(gateway: ConnectGateway, endpoint: string): Uint8Array {
  return encode(schemas.StartResponse, gateway.start(endpoint));
}

/** Malformed protobuf is the client's fault: 400 naming the message. */
function failure(error: unknown) {
  if (error instanceof WireError) return { error: error.message, code: "invalid_argument", status: 400 };
  const body = errorBody(error);
  // too many sessions waiting: 429 is what connect() reads as "connection limit", and backs off
  return body.code === "limit_exceeded" ? { ...body, code: "rate_limited", status: 429 } : body;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
