/**
 * @module routes/health
 * `GET /health` (liveness: 200 while the process serves) and `GET /ready` (readiness: 200
 * when the store answers a trivial query and the node is not draining, else 503 with a
 * JSON reason). Both are unauthenticated and say nothing secret: no URL, no error text.
 */
import type { Engine } from "@stepwise/engine";
import type { Logger } from "@stepwise/protocol";
import { Hono } from "hono";

/** How long `/ready` waits for the store before answering 503. */
const storeTimeoutMs = 2_000;

export function healthRoutes(engine: Engine, mode: "dev" | "start", logger: Logger) {
  const app = new Hono();
  app.get("/health", (c) => c.json({ status: "ok", mode }));
  app.get("/ready", async (c) => {
    if (engine.draining) return c.json({ status: "not_ready", reason: "draining: this node is shutting down and claims no new work" }, 503);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        engine.store.nextAvailableAt(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${storeTimeoutMs} ms`)), storeTimeoutMs);
        }),
      ]);
    } catch (error) {
      logger.warn(`stepwise: /ready: the store did not answer: ${(error as Error).message}`);
      return c.json({ status: "not_ready", reason: "store: the database did not answer a trivial query" }, 503);
    } finally {
      clearTimeout(timer);
    }
    if (engine.draining) return c.json({ status: "not_ready", reason: "draining: this node is shutting down and claims no new work" }, 503);
    return c.json({ status: "ready" });
  });
  return app;
}
