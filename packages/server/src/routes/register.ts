/**
 * @module register
 * `POST /fn/register`: an app registers its functions (inngest-protocol §5.2–5.3). Success
 * `{ ok: true, modified }`; failure `{ status, error }` naming the function and field.
 */
import { Hono } from "hono";
import type { RegisterRequest } from "../apps/app-registry.ts";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";

export function registerRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.post("/fn/register", async (c) => {
    const expected = c.req.header("x-inngest-expected-server-kind");
    const kind = ctx.signingKeys.length ? "cloud" : "dev";
    if (expected && expected !== kind) {
      return c.json({ status: 400, error: `this is a ${kind} server, but the app expected ${expected}` }, 400);
    }
    try {
      const body = JSON.parse(await c.req.text()) as RegisterRequest;
      const { modified } = ctx.apps.register(body);
      ctx.logger.info(`stepwise: synced app "${body.appName}" (${body.functions.length} functions) from ${body.url}`);
      return c.json({ ok: true, modified });
    } catch (error) {
      const e = errorBody(error);
      return c.json({ status: e.status, error: e.error }, e.status as 400);
    }
  });
  return app;
}
