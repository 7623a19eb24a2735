/**
 * @module auth/guard
 * Browser-facing checks shared by both modes: which `Host` names a server answers to
 * (against DNS rebinding), whether an `Origin` is the server's own, and whether a
 * state-changing request carries a JSON body type (a cross-site HTML form cannot send one,
 * and a cross-site `fetch` with it needs a CORS preflight this server never grants).
 */
import type { Context } from "hono";

export const loopbackNames = ["localhost", "127.0.0.1", "[::1]", "::1"];

/** Methods that may change state. GET, HEAD and OPTIONS never do here. */
export function isStateChanging(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** The host name of a `Host` header, without its port; `[::1]` keeps its brackets. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(0, end + 1) : undefined;
  }
  return h.replace(/:\d*$/, "");
}

/** The scheme the client used: `x-forwarded-proto` from a proxy, else the URL's. */
export function requestProto(c: Context): "http" | "https" {
  const forwarded = c.req.header("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  if (forwarded === "https" || forwarded === "http") return forwarded;
  return new URL(c.req.url).protocol === "https:" ? "https" : "http";
}

/** `true` when the request's `Origin` is the server's own (`<proto>://<Host>`). */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  if (!origin || !host) return false;
  const own = new Set([`http://${host}`.toLowerCase(), `https://${host}`.toLowerCase()]);
  return own.has(origin.toLowerCase());
}

export function isJson(c: Context): boolean {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * `stepwise dev`: answer only to `allowedHosts` (by default the loopback names, any
 * port), and take state-changing requests only with a JSON body type and either no
 * `Origin` (curl, SDKs) or the server's own.
 */
export function devGuard(allowedHosts: readonly string[] | "any") {
  const allowed = allowedHosts === "any" ? undefined : new Set(allowedHosts.map((h) => hostName(h) ?? h));
  return async (c: Context, next: () => Promise<void>) => {
    const name = hostName(c.req.header("host") ?? new URL(c.req.url).host);
    if (allowed && (!name || !allowed.has(name))) {
      return c.json(
        {
          error: `Host ${JSON.stringify(c.req.header("host") ?? "")} is not allowed: stepwise dev answers to localhost, 127.0.0.1 and [::1] (pass --host to listen on another address)`,
          code: "forbidden_host",
          status: 403,
        },
        403,
      );
    }
    if (isStateChanging(c.req.method)) {
      const origin = c.req.header("origin");
      const site = c.req.header("sec-fetch-site");
      if ((origin !== undefined && !sameOrigin(c)) || site === "cross-site") {
        return c.json({ error: `cross-origin ${c.req.method} refused (Origin ${JSON.stringify(origin ?? "")})`, code: "forbidden_origin", status: 403 }, 403);
      }
      if (c.req.method !== "DELETE" && !isJson(c)) {
        return c.json({ error: `${c.req.method} needs content-type: application/json`, code: "unsupported_media_type", status: 415 }, 415);
      }
    }
    await next();
  };
}
