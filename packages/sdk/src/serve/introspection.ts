/**
 * @module introspection
 * The body of `GET` on the serve endpoint (inngest-protocol.md §6): the short shape in
 * dev mode, and in cloud mode (signature verified) the authenticated shape with the
 * app's identity, origins and truncated key hashes.
 */
import { createHash } from "node:crypto";
import { hashSigningKey } from "@stepwise/protocol";
import type { Connection } from "../http/env.ts";
import { sdkVersion } from "../http/sdk-info.ts";

export const schemaVersion = "2024-05-24";
/** What this SDK can do beyond the basics (the official SDK also announces `connect`, which Stepwise does not implement). */
export const capabilities = { trust_probe: "v1" } as const;

export interface IntrospectionContext {
  appId: string;
  connection: Connection;
  functionCount: number;
  framework: string;
  serveOrigin: string | null;
  servePath: string | null;
}

/** First 12 hex characters of the key's bearer hash, or null. */
function keyHash(key: string | undefined): string | null {
  if (!key) return null;
  return hashSigningKey(key)
    .replace(/^signkey-[A-Za-z0-9_]+-/, "")
    .slice(0, 12);
}

function origin(url: string): string {
  return new URL(url).origin;
}

export function introspection(context: IntrospectionContext, authenticated: boolean): Record<string, unknown> {
  const { connection } = context;
  const base = {
    extra: authenticated ? { native_crypto: true, is_streaming: false } : { native_crypto: true },
    has_event_key: connection.eventKey !== undefined,
    has_signing_key: connection.signingKey !== undefined,
    function_count: context.functionCount,
    mode: connection.mode,
    schema_version: schemaVersion,
  };
  if (!authenticated) return base;
  return {
    ...base,
    authentication_succeeded: true,
    api_origin: origin(connection.apiBaseUrl),
    app_id: context.appId,
    capabilities,
    env: connection.env ?? null,
    event_api_origin: origin(connection.eventBaseUrl),
    event_key_hash: connection.eventKey ? createHash("sha256").update(connection.eventKey).digest("hex") : null,
    framework: context.framework,
    sdk_language: "js",
    sdk_version: sdkVersion,
    serve_origin: context.serveOrigin,
    serve_path: context.servePath,
    signing_key_fallback_hash: keyHash(connection.signingKeyFallback),
    signing_key_hash: keyHash(connection.signingKey),
  };
}
