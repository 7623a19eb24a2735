/**
 * The same function code, served: the example app's functions served with Stepwise's own
 * `serve()` (node adapter) and run by a Stepwise dev server over HTTP.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, describe, expect, it } from "vitest";
import { createFlaky } from "../../examples/flaky.ts";
import { createOnboarding } from "../../examples/onboarding.ts";
import { createOrderFlow } from "../../examples/orders.ts";
import { createServices } from "../../examples/services.ts";

let stepwise: RunningServer | undefined;
let app: Server | undefined;
afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("Stepwise SDK served over HTTP", () => {
  it("runs the example functions unchanged against stepwise dev", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const client = new Stepwise({ id: "served-examples", isDev: true, baseUrl: stepwise.url, logger: silentLogger });
    const services = createServices();
    const functions = [createOnboarding(client, services), createOrderFlow(client, services), createFlaky(client, services).fn];
    app = createServer(serve({ client, functions }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
    expect(record.error).toBeUndefined();
    expect(record.functionIds.sort()).toEqual(["served-examples-flaky-sync", "served-examples-onboarding", "served-examples-process-order"]);

    const { ids } = await client.send([
      { name: "app/user.signed-up", data: { userId: "u_1", tipsDelay: "200ms" } },
      { name: "shop/order.placed", data: { orderId: "9", items: ["a"], total: 5 } },
      { name: "sync/requested", data: {} },
    ]);
    const runs = await Promise.all(ids.map(async (id) => (await stepwise!.engine.listRuns({ eventId: id }))[0]!));
    const done = await Promise.all(runs.map((r) => stepwise!.engine.waitForRun(r.id, { timeoutMs: 15_000 })));
    expect(done.map((r) => [r.functionId, r.status])).toEqual([
      ["served-examples-onboarding", "Completed"],
      ["served-examples-process-order", "Completed"],
      ["served-examples-flaky-sync", "Completed"],
    ]);
    expect(done[0]?.output).toEqual({ onboarded: "u_1" });
    expect(done[2]?.steps.find((s) => s.name === "call-flaky-api")?.attempts).toBe(3);
    expect(services.sent.map((m) => m.template).sort()).toEqual(["confirmation", "tips", "welcome"]);
  }, 30_000);
});
