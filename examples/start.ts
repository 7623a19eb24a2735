/**
 * `npm start`: the Stepwise dev server (http://127.0.0.1:8288) with the example app
 * registered in-process, on embedded SQLite. It sends a few events and shows what each
 * run does, step by step, then keeps serving: send more with
 *   curl -X POST localhost:8288/e/dev -H 'content-type: application/json' -d '{"name":"shop/order.placed","data":{"orderId":"42"}}'
 * Ctrl-C stops it; state persists in .stepwise/example.db.
 */
import { mkdirSync } from "node:fs";
import { runServer } from "stepwise/cli";
import { createExampleApp } from "./app.ts";

const database = process.env.STEPWISE_DB ?? ".stepwise/example.db";
mkdirSync(".stepwise", { recursive: true });
const port = Number(process.env.STEPWISE_PORT ?? 8288);

const { client, functions } = createExampleApp({ log: (line) => console.log(line) });
const server = await runServer({
  mode: "dev",
  port,
  db: database,
  discovery: false,
  logRuns: false,
  retryDelayScale: 0.2,
  inProcess: { client, functions: Object.values(functions) },
});
const { engine } = server;

engine.onRunEnded(async (runId) => {
  const run = await engine.getRun(runId);
  if (!run) return;
  const took = run.endedAt && run.startedAt ? `${run.endedAt - run.startedAt} ms` : "";
  console.log(`● ${run.functionId} ${run.status} ${took}  (run ${run.id})`);
  for (const step of run.steps) {
    const retries = step.attempts > 1 ? ` after ${step.attempts} attempts` : "";
    console.log(`    ${step.status.padEnd(9)} ${step.name}${retries}`);
  }
  if (run.output !== undefined) console.log(`    → ${JSON.stringify(run.output)}`);
  if (run.error) console.log(`    ✗ ${run.error.name}: ${run.error.message}`);
});

console.log(`Stepwise dev server on ${server.url} with the example app (database ${database}). Sending four events…\n`);
await client.send([
  { name: "app/user.signed-up", data: { userId: "u_1", tipsDelay: "3s" } },
  { name: "shop/order.placed", data: { orderId: "1001", items: ["book", "lamp"], total: 99 } },
  { name: "sync/requested", data: {} },
  { name: "billing/charge.requested", data: { customer: "grace@example.com", card: "declined", amount: 30 } },
]);
console.log(`Try: curl -X POST ${server.url}/e/dev -H 'content-type: application/json' -d '{"name":"shop/order.placed","data":{"orderId":"42"}}'`);
console.log(`     curl ${server.url}/v1/runs   (Ctrl-C to stop)\n`);

const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
