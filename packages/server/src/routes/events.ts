/**
 * @module events
 * `POST /e/:eventKey`: the event API the SDKs send to (inngest-protocol §7). One event or
 * an array; all validated before anything is stored. Reply `{ ids, status: 200 }` (the
 * official SDK needs the `status` key). A retried request (same `x-inngest-event-id-seed`)
 * gets the same ids and stores nothing twice; a different body under a seed already used
 * is refused with 409, never acknowledged and dropped. A W3C `traceparent` header (as an
 * app's instrumented HTTP client sends it) puts the runs started into that trace.
 */

import type { EventRecord } from "@stepwise/engine";
import { idsFromSeed, StepwiseError, validateEvents } from "@stepwise/protocol";
import { Hono } from "hono";
import { safeEqual } from "../auth/secrets.ts";
import { errorBody } from "../errors.ts";
import { withRequestContext } from "../tracing.ts";
import type { ServerContext } from "./context.ts";
import { eventPayloadShape, parse, readJson } from "./schemas.ts";

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

type Validated = ReturnType<typeof validateEvents>[number];

function sameEvent(record: EventRecord, event: Validated): boolean {
  return (
    record.name === event.name &&
    sameJson(record.data, event.data) &&
    sameJson(record.user, event.user) &&
    (record.v ?? undefined) === event.v &&
    sameJson(record.meta ?? null, event.meta ?? null) &&
    record.id === (event.id ?? record.internalId) &&
    (event.ts === undefined || record.ts === event.ts)
  );
}

export function eventRoutes(ctx: ServerContext) {
  const app = new Hono();
  app.post("/e/:eventKey", async (c) => {
    const key = c.req.param("eventKey");
    if (ctx.eventKey !== undefined && !safeEqual(key, ctx.eventKey)) {
      return c.json({ error: "unknown event key; send with the key this server was started with (--event-key)", code: "unauthorized", status: 401 }, 401);
    }
    try {
      const body = parse(eventPayloadShape, await readJson(c.req));
      const count = Array.isArray(body) ? body.length : 1;
      const seed = c.req.header("x-inngest-event-id-seed");
      const internalIds = idsFromSeed(seed, count);
      // the store keeps the first event under an id: a replay must be that same event.
      // Checked before sending, and again after (a concurrent request may have won).
      const events = internalIds ? validateEvents(body) : [];
      const check = async () => {
        if (!internalIds) return;
        const stored = await Promise.all(internalIds.map((id) => ctx.engine.store.getEvent(id)));
        for (const [i, record] of stored.entries()) {
          const event = events[i];
          if (record && event && !sameEvent(record, event)) {
            throw new StepwiseError(
              "conflict",
              `x-inngest-event-id-seed ${JSON.stringify(seed)}: ${Array.isArray(body) ? `events[${i}]` : "event"} differs from the event already stored under id ${record.internalId}; a seed may only be reused to retry the same request`,
            );
          }
        }
      };
      await check();
      // a `traceparent` header puts the runs these events start into the sender's trace
      const { ids } = await withRequestContext(
        (name) => c.req.header(name),
        () => ctx.engine.send(body, internalIds ? { internalIds } : {}),
      );
      await check();
      return c.json({ ids, status: 200 });
    } catch (error) {
      const e = errorBody(error);
      if (e.status >= 500) ctx.logger.error(`stepwise: POST /e/: ${(error as Error).stack}`);
      return c.json(e, e.status as 400);
    }
  });
  return app;
}
