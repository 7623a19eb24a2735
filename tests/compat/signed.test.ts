/**
 * `stepwise start` semantics with the official SDK in cloud mode: the app verifies every
 * request's signature (over RFC 8785 canonical JSON) and rejects unsigned ones; the
 * server accepts only the app's bearer and the configured event key.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { afterAll, describe, expect, it } from "vitest";

const signingKey = "signkey-test-8e8b5b1c2f3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
let stepwise: RunningServer | undefined;
let app: Server | undefined;

afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("signed (cloud-mode) official SDK against stepwise start", () => {
  it("syncs, runs steps and a sleep with signed requests", async () => {
    stepwise = await runServer({ mode: "start", port: 0, db: ":memory:", signingKey, eventKey: "evt-test", logRuns: false, logger: silentLogger });
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const inngest = new Inngest({ id: "signed", isDev: false, baseUrl: stepwise.url, signingKey, eventKey: "evt-test", logger: quiet });
    const fn = inngest.createFunction({ id: "secure", triggers: [{ event: "signed/go" }] }, async ({ event, step }) => {
      const a = await step.run("a", () => `secret ${event.data.n}`);
      await step.sleep("nap", "1s");
      return step.run("b", () => `${a}!`);
    });
    app = createServer(serve({ client: inngest, functions: [fn] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`;

    // the app refuses an unsigned call outright
    const unsigned = await fetch(`${url}?fnId=signed-secure&stepId=step`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(unsigned.status).toBe(401);

    const record = await stepwise.server.apps.sync(url);
    expect(record.error).toBeUndefined();
    const { ids } = await inngest.send({ name: "signed/go", data: { n: 7 } });
    const [run] = await stepwise.engine.listRuns({ eventId: ids[0]! });
    const done = await stepwise.engine.waitForRun(run!.id, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ status: "Completed", output: "secret 7!" });

    // a wrong event key is refused
    const wrong = await fetch(`${stepwise.url}/e/not-the-key`, { method: "POST", body: JSON.stringify({ name: "signed/go" }) });
    expect(wrong.status).toBe(401);
  }, 30_000);
});
