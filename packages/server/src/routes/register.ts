/**
 * @module register
 * `POST /fn/register`: an app registers its functions (inngest-protocol §5.2–5.3). Success
 * `{ ok: true, modified }`; failure `{ status, error }` naming the function and field. A
 * function id another app already registered is refused with 409 (the same app, by name
 * or URL, may re-sync).
 */
import { StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import type { AppRecord, RegisterRequest } from "../apps/app-registry.ts";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";
import { parse, readJson, registerBody } from "./schemas.ts";

export function registerRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.post("/fn/register", async (c) => {
    const expected = c.req.header("x-inngest-expected-server-kind");
    const kind = ctx.signingKeys.length ? "cloud" : "dev";
    if (expected && expected !== kind) {
      return c.json({ status: 400, error: `this is a ${kind} server, but the app expected ${expected}` }, 400);
    }
    try {
      const raw = await readJson(c.req);
      const checked = parse(registerBody, raw, "register");
      const body = raw as RegisterRequest;
      // who owns each id, indexed once per sync (a lookup per function would be quadratic)
      const owners = new Map<string, AppRecord>();
      for (const app of ctx.apps.list()) for (const id of app.functionIds) if (!owners.has(id)) owners.set(id, app);
      const inEngine = new Map(ctx.engine.functions().map((f) => [f.config.id, f]));
      for (const fn of checked.functions) {
        const owner = owners.get(fn.id);
        if (owner && owner.url !== checked.url && owner.appName !== checked.appName) {
          throw new StepwiseError(
            "conflict",
            `register: function "${fn.id}" belongs to app "${owner.appName ?? owner.url}" (${owner.url}); rename the function or remove it from that app first`,
          );
        }
        const engineOwner = inEngine.get(fn.id);
        if (!owner && engineOwner && engineOwner.config.appId !== checked.appName) {
          throw new StepwiseError("conflict", `register: function "${fn.id}" belongs to app "${engineOwner.config.appId}" (registered in process)`);
        }
      }
      const { modified } = await ctx.apps.register(body);
      ctx.logger.info(`stepwise: synced app "${body.appName}" (${body.functions.length} functions) from ${body.url}`);
      return c.json({ ok: true, modified });
    } catch (error) {
      const e = errorBody(error);
      return c.json({ status: e.status, error: e.error }, e.status as 400);
    }
  });
  return app;
}
