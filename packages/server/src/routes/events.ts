/**
 * @module events
 * `POST /e/:eventKey`: the event API the SDKs send to (inngest-protocol §7). One event or
 * an array; all validated before anything is stored. Reply `{ ids, status: 200 }` (the
 * official SDK needs the `status` key).
 */
import { idsFromSeed } from "@stepwise/protocol";
import { Hono } from "hono";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "./context.ts";

export function eventRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.post("/e/:eventKey", async (c) => {
    const key = c.req.param("eventKey");
    if (ctx.eventKey !== undefined && key !== ctx.eventKey) {
      return c.json({ error: "unknown event key; send with the key this server was started with (--event-key)", code: "unauthorized", status: 401 }, 401);
    }
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (error) {
      const e = errorBody(new SyntaxError((error as Error).message));
      return c.json(e, 400);
    }
    try {
      const count = Array.isArray(body) ? body.length : 1;
      const internalIds = idsFromSeed(c.req.header("x-inngest-event-id-seed"), count);
      const { ids } = await ctx.engine.send(body, internalIds ? { internalIds } : {});
      return c.json({ ids, status: 200 });
    } catch (error) {
      const e = errorBody(error);
      return c.json(e, e.status as 400);
    }
  });
  return app;
}
