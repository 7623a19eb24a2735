/**
 * @module realtime/routes
 * - `POST /v1/realtime/token` (a credential, as the rest of /v1): body
 *   `[{ channel, name }]` (one per topic, as the official SDK sends) → `{ jwt }`, a
 *   subscription token for that channel and those topics.
 * - `POST /v1/realtime/publish?channel=…&topic=…[&run_id=…]` (a credential): the JSON
 *   body is the message's data, published to each `topic` of the channel.
 * - `GET /v1/realtime/sse` (the subscription token, not a credential: `Authorization:
 *   Bearer <token>`, or `?token=` for `EventSource`): the channel's messages as server-sent
 *   events, `data: <frame>` each (the WebSocket's frames). Open to any origin (CORS `*`,
 *   no cookies), since the token is all that grants it.
 */
import { maxRealtimeMessageBytes, StepwiseError } from "@stepwise/protocol";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { streamSSE } from "hono/streaming";
import { errorBody } from "../errors.ts";
import type { ServerContext } from "../routes/context.ts";
import { parse, readJson, readText, realtimePublishQuery, realtimeTokenBody } from "../routes/schemas.ts";
import { checkScope, maxQueuedMessages, type RealtimeHub } from "./hub.ts";
import type { RealtimeTokens } from "./tokens.ts";

export const realtimeSsePath = "/v1/realtime/sse";

export function realtimeRoutes(ctx: ServerContext, hub: RealtimeHub, tokens: RealtimeTokens) {
  const app = new Hono();
  app.onError((error, c) => {
    const e = errorBody(error);
    if (e.status >= 500) ctx.logger.error(`stepwise: ${c.req.method} ${c.req.path}: ${(error as Error).stack}`);
    return c.json(e, e.status as 400);
  });

  // a browser page on another origin subscribes with its token in a header: the token is
  // the whole authority (no cookies are honoured here), so any origin may ask
  app.use(realtimeSsePath, cors({ origin: "*", allowMethods: ["GET"], allowHeaders: ["authorization", "accept"], maxAge: 600 }));

  app.post("/v1/realtime/token", async (c) => {
    const entries = parse(realtimeTokenBody, await readJson(c.req));
    const channel = entries[0]?.channel as string;
    const other = entries.findIndex((e) => e.channel !== channel);
    if (other >= 0) throw new StepwiseError("invalid_argument", `[${other}].channel: every entry must name the same channel (${JSON.stringify(channel)})`);
    const topics = [...new Set(entries.map((e) => e.name))];
    return c.json({ jwt: tokens.sign({ channel, topics }) });
  });

  app.post("/v1/realtime/publish", async (c) => {
    const url = new URL(c.req.url);
    const {
      channel,
      topic: topics,
      run_id: runId,
    } = parse(realtimePublishQuery, {
      channel: url.searchParams.get("channel") ?? undefined,
      topic: url.searchParams.getAll("topic"),
      run_id: url.searchParams.get("run_id") || undefined,
    });
    const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
    if (type === "text/stream") {
      return c.json(
        { error: "streamed publishes (text/stream) are not supported by Stepwise; publish JSON data", code: "unsupported_media_type", status: 415 },
        415,
      );
    }
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > maxRealtimeMessageBytes) throw new StepwiseError("limit_exceeded", `body: a realtime message is at most ${maxRealtimeMessageBytes} bytes`);
    const body = await c.req.arrayBuffer();
    if (body.byteLength > maxRealtimeMessageBytes)
      throw new StepwiseError("limit_exceeded", `body: a realtime message is at most ${maxRealtimeMessageBytes} bytes`);
    const text = await readText({ arrayBuffer: async () => body });
    let data: unknown = null;
    if (text !== "") {
      // the official SDK sends a string's own text, anything else as JSON
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    const fnId = runId
      ? await ctx.engine.store.getRun(runId).then(
          (run) => run?.functionId,
          () => undefined,
        )
      : undefined;
    const createdAt = Date.now();
    for (const topic of topics) {
      await ctx.engine.realtime.publish({ channel, topic, data, createdAt, ...(runId ? { runId } : {}), ...(fnId ? { fnId } : {}) });
    }
    return c.json({ data: { channel, topics } });
  });

  app.get(realtimeSsePath, (c) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
    const url = new URL(c.req.url);
    const scope = checkScope(
      tokens,
      bearer ?? url.searchParams.get("token") ?? undefined,
      url.searchParams.get("channel") ?? undefined,
      url.searchParams.getAll("topic"),
    );
    if (!scope.ok) return c.json({ error: scope.reason, code: scope.status === 401 ? "unauthorized" : "forbidden", status: scope.status }, scope.status);
    if (hub.isClosed) return c.json({ error: "the server is shutting down", code: "unavailable", status: 503 }, 503);
    return streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      let ended = false;
      const end = () => {
        ended = true;
        wake?.();
      };
      const unsubscribe = hub.subscribe(scope.token, (frame) => {
        // a subscriber that does not keep up is let go rather than buffered without bound
        if (queue.length >= maxQueuedMessages) return end();
        queue.push(JSON.stringify(frame));
        wake?.();
      });
      const untrack = hub.track(end);
      stream.onAbort(end);
      await stream.writeSSE({ event: "ready", data: JSON.stringify({ channel: scope.token.channel, topics: scope.token.topics }) });
      while (!ended && !stream.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 15_000).unref();
          });
          wake = undefined;
          if (queue.length === 0 && !ended && !stream.aborted) await stream.writeSSE({ event: "ping", data: "{}" });
          continue;
        }
        await stream.writeSSE({ data: queue.shift() as string });
      }
      unsubscribe();
      untrack();
    });
  });
  return app;
}
