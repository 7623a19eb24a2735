/**
 * The same middleware served: Stepwise's `serve()` (node adapter) run by a Stepwise dev
 * server over HTTP, one call per step (the classic protocol). The hooks fire in the
 * same order as in-process, call by call.
 */
import { createServer, type Server } from "node:http";
import { type RunningServer, runServer } from "@stepwise/cli";
import { silentLogger } from "@stepwise/protocol";
import { InngestMiddleware, Middleware, Stepwise } from "stepwise";
import { serve } from "stepwise/node";
import { afterAll, describe, expect, it } from "vitest";
import { type Entry, recorder } from "./recorder.ts";

let stepwise: RunningServer | undefined;
let app: Server | undefined;
afterAll(async () => {
  await stepwise?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("middleware served over HTTP", () => {
  it("calls every hook around a checkpointed call, and applies transforms and DI", async () => {
    stepwise = await runServer({ mode: "dev", port: 0, db: ":memory:", logRuns: false, retryDelayScale: 0.01, logger: silentLogger });
    const log: Entry[] = [];
    const db = new InngestMiddleware({
      name: "db",
      init: () => ({
        onFunctionRun: () => ({
          transformInput: () => ({ ctx: { db: { find: (id: string) => `row ${id}` } } }),
          transformOutput: ({ result, step }) => (step ? undefined : { result: { data: { out: result.data } } }),
        }),
        onSendEvent: () => ({
          transformInput: ({ payloads }) => ({ payloads: payloads.map((p) => ({ ...p, data: { ...p.data, viaMiddleware: true } })) }),
        }),
      }),
    });
    const v4: string[] = [];
    class Steps extends Middleware.BaseMiddleware {
      readonly id = "steps";
      override onRunStart() {
        v4.push("onRunStart");
      }
      override onStepStart({ stepInfo }: Middleware.StepArgs) {
        v4.push(`onStepStart ${stepInfo.options.id}`);
      }
      override async wrapStepHandler({ next }: Middleware.WrapStepHandlerArgs) {
        return `${await next()}`;
      }
      override onRunComplete({ output }: Middleware.OnRunCompleteArgs) {
        v4.push(`onRunComplete ${JSON.stringify(output)}`);
      }
    }
    const client = new Stepwise({
      id: "served-mw",
      isDev: true,
      baseUrl: stepwise.url,
      logger: silentLogger,
      middleware: [recorder("m", log), db, Steps],
    });
    const flow = client.createFunction({ id: "flow", retries: 0 }, { event: "smw/go" }, async ({ event, step, db }) => {
      const a = await step.run("a", () => db.find("1"));
      const b = await step.run("b", () => `${a}+`);
      return { b, tagged: event.data.viaMiddleware };
    });
    app = createServer(serve({ client, functions: [flow] }));
    await new Promise<void>((resolve) => app?.listen(0, "127.0.0.1", () => resolve()));
    const record = await stepwise.server.apps.sync(`http://127.0.0.1:${(app.address() as { port: number }).port}/api/inngest`);
    expect(record.error).toBeUndefined();

    const { ids } = await client.send({ name: "smw/go" });
    const [run] = await stepwise.engine.listRuns({ eventId: ids[0] });
    const done = await stepwise.engine.waitForRun(run!.id, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ status: "Completed", output: { out: { b: "row 1+", tagged: true } } });

    expect(v4).toEqual(["onRunStart", "onStepStart a", "onStepStart b", 'onRunComplete {"b":"row 1+","tagged":true}']);
    const calls: Entry[][] = [];
    for (const entry of log.filter(([name, hook]) => name === "m" && hook !== "init" && !hook.startsWith("send."))) {
      if (entry[1] === "onFunctionRun") calls.push([]);
      calls.at(-1)?.push(entry);
    }
    const start = (steps: number, memo: unknown[]): Entry[] => [
      ["m", "onFunctionRun", { runId: "string", event: "smw/go", steps }],
      ["m", "transformInput", { steps: memo, seen: [] }],
      ["m", "beforeMemoization"],
      ["m", "afterMemoization"],
      ["m", "beforeExecution"],
    ];
    // the server offers async checkpointing: both steps run in one call, each checkpointed,
    // so the hooks run once around the call, as in-process
    expect(calls).toEqual([
      [
        ...start(0, []),
        ["m", "afterExecution"],
        ["m", "transformOutput", { data: "row 1", step: "a" }],
        ["m", "transformOutput", { data: "row 1+", step: "b" }],
        // transformOutput runs last-registered first: "db" has already wrapped the result.
        ["m", "transformOutput", { data: { out: { b: "row 1+", tagged: true } }, step: null }],
        ["m", "finished", { data: { out: { b: "row 1+", tagged: true } } }],
        ["m", "beforeResponse"],
      ],
    ]);
  }, 30_000);
});
