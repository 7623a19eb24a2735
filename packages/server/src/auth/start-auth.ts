/**
 * @module auth/start-auth
 * Credentials of `stepwise start`:
 * - apps: `Authorization: Bearer <hashed signing key>` (what the SDKs send);
 * - API clients: `Authorization: Bearer <dashboard secret>` or a `swt_…` API token;
 * - browsers: the `stepwise_session` cookie from `POST /auth/login`, with CSRF checks on
 *   every state-changing request (own `Origin` and a JSON body type or `x-stepwise-csrf`).
 * No credential is ever read from a URL.
 */
import { type Logger, verifyBearer } from "@stepwise/protocol";
import type { Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { isJson, isStateChanging, requestProto, sameOrigin } from "./guard.ts";
import { safeEqual } from "./secrets.ts";
import { FailureLimiter, Sessions, sessionCookie } from "./sessions.ts";
import type { TokenStore } from "./token-store.ts";

export interface StartAuthOptions {
  signingKeys: string[];
  /** Unset: no logins; API tokens and the signing key's bearer only. */
  dashboardSecret?: string;
  tokens: TokenStore;
  logger: Logger;
}

function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

function bearerOf(c: Context): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  return match?.[1]?.trim();
}

const unauthorized = (c: Context) =>
  c.json(
    {
      error: "not signed in: send Authorization: Bearer <API token or dashboard secret> (apps: the hashed signing key), or log in to the dashboard",
      code: "unauthorized",
      status: 401,
    },
    401,
  );

export function startAuth(app: Hono, options: StartAuthOptions) {
  const sessions = new Sessions();
  const limiter = new FailureLimiter(5, 60_000);

  app.post("/auth/login", async (c) => {
    const ip = clientIp(c);
    if (c.req.header("origin") !== undefined && !sameOrigin(c))
      return c.json({ error: "cross-origin login refused", code: "forbidden_origin", status: 403 }, 403);
    if (limiter.blocked(ip)) {
      options.logger.warn(`stepwise: login from ${ip} refused: too many failed attempts`);
      return c.json({ error: "too many failed logins; wait a minute", code: "rate_limited", status: 429 }, 429, { "retry-after": "60" });
    }
    if (!isJson(c)) return c.json({ error: "POST /auth/login needs content-type: application/json", code: "unsupported_media_type", status: 415 }, 415);
    const body = (await c.req.json().catch(() => ({}))) as { token?: unknown };
    const given = typeof body.token === "string" ? body.token : undefined;
    if (options.dashboardSecret === undefined || !safeEqual(given, options.dashboardSecret)) {
      limiter.fail(ip);
      options.logger.warn(`stepwise: failed dashboard login from ${ip}`);
      return c.json({ error: "wrong dashboard secret", code: "unauthorized", status: 401 }, 401);
    }
    setCookie(c, sessionCookie, sessions.create(), {
      httpOnly: true,
      sameSite: "Strict",
      secure: requestProto(c) === "https",
      path: "/",
      maxAge: Math.floor(sessions.ttlMs / 1000),
    });
    options.logger.info(`stepwise: dashboard login from ${ip}`);
    return c.json({ ok: true });
  });

  app.post("/auth/logout", (c) => {
    sessions.end(getCookie(c, sessionCookie));
    deleteCookie(c, sessionCookie, { path: "/" });
    return c.json({ ok: true });
  });

  return async (c: Context, next: () => Promise<void>) => {
    const bearer = bearerOf(c);
    if (bearer !== undefined) {
      const ok =
        verifyBearer(c.req.header("authorization"), options.signingKeys) ||
        (options.dashboardSecret !== undefined && safeEqual(bearer, options.dashboardSecret)) ||
        options.tokens.verify(bearer) !== undefined;
      if (!ok) return unauthorized(c);
      return next();
    }
    if (sessions.valid(getCookie(c, sessionCookie))) {
      if (isStateChanging(c.req.method) && !(sameOrigin(c) && (isJson(c) || c.req.header("x-stepwise-csrf") !== undefined))) {
        return c.json(
          {
            error: "cookie-authenticated requests that change state need the server's own Origin and content-type: application/json",
            code: "csrf",
            status: 403,
          },
          403,
        );
      }
      return next();
    }
    return unauthorized(c);
  };
}
