/**
 * The app side of the realtime example: a function that reports an order's progress
 * with `step.realtime.publish` (once per step, however often the run is retried), served
 * at `/api/inngest`, and `GET /api/realtime-token?orderId=…`, which hands the page a
 * short-lived subscription token for that order's channel. A real app checks that the
 * signed-in user may see the order before issuing it.
 *
 * Run: `stepwise dev` in one terminal, then
 * `node --conditions=stepwise-source --import tsx examples/realtime-react/server.ts`.
 */
import { createServer, type Server } from "node:http";
import { getSubscriptionToken, Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { orderProgress } from "./channels.ts";

export function createRealtimeExample(options: { baseUrl?: string } = {}) {
  const client = new Stepwise({ id: "realtime-example", isDev: true, ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) });
  const processOrder = client.createFunction({ id: "process-order", triggers: [{ event: "shop/order.placed" }] }, async ({ event, step }) => {
    const ch = orderProgress(String(event.data.orderId));
    const at = () => new Date().toISOString();
    await step.realtime.publish("received", ch.status, { state: "received", at: at() });
    await step.run("charge", () => "charged");
    await step.realtime.publish("charged", ch.status, { state: "charged", at: at() });
    await client.realtime.publish(ch.log, "handing over to the carrier");
    await step.realtime.publish("shipped", ch.status, { state: "shipped", at: at() });
    return { orderId: event.data.orderId };
  });
  const inngest = serve({ client, functions: [processOrder] });
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/api/realtime-token") {
      const orderId = url.searchParams.get("orderId");
      if (!orderId) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "orderId: required" }));
        return;
      }
      try {
        const token = await getSubscriptionToken(client, { channel: orderProgress(orderId), topics: ["status", "log"] });
        // the channel travels by name; the page has the same definition for the types
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify({ ...token, channel: token.channel.name }));
      } catch (error) {
        res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: (error as Error).message }));
      }
      return;
    }
    if (url.pathname === "/api/inngest") return inngest(req, res);
    res.writeHead(404).end();
  });
  return { client, server, functions: [processOrder] };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createRealtimeExample();
  server.listen(3000, () => console.log("realtime example on http://localhost:3000 (serve /api/inngest, token at /api/realtime-token)"));
}
