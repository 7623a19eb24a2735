/**
 * The realtime React example's app side, end to end against a Stepwise dev server: the
 * page's token route hands out a token (channel by name, as JSON), and the page's
 * `subscribe` (the one `useSubscription` wraps) receives the order's progress.
 */
import type { Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { type SubscriptionToken, subscribe } from "stepwise/realtime";
import { afterAll, describe, expect, it } from "vitest";
import { createRealtimeExample } from "../../examples/realtime-react/server.ts";

let stepwise: RunningServer | undefined;
let app: Server | undefined;
afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("examples/realtime-react", () => {
  it("the token route and a subscription show an order's progress", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, logger: silentLogger });
    const example = createRealtimeExample({ baseUrl: stepwise.url });
    app = example.server;
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const base = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
    expect((await stepwise.server.apps.sync(`${base}/api/inngest`)).error).toBeUndefined();

    expect((await fetch(`${base}/api/realtime-token`)).status).toBe(400);
    const token = (await (await fetch(`${base}/api/realtime-token?orderId=77`)).json()) as SubscriptionToken;
    expect(token).toMatchObject({ channel: "order:77", topics: ["status", "log"] });
    const sub = await subscribe(token);
    const reader = sub.getReader();
    await example.client.send({ name: "shop/order.placed", data: { orderId: "77" } });
    const got: unknown[] = [];
    while (got.length < 4) {
      const { value, done } = await reader.read();
      if (done) break;
      got.push(value.topic === "status" ? (value.data as { state: string }).state : value.data);
    }
    expect(got).toEqual(["received", "charged", "handing over to the carrier", "shipped"]);
    sub.close();
  }, 30_000);
});
