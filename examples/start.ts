/**
 * `npm start`: runs the example app in-process on embedded SQLite and shows what each
 * run does, step by step. The database is `.stepwise/example.db` (delete it to start over).
 */
import { mkdirSync } from "node:fs";
import { createEngine } from "stepwise/engine";
import { createExampleApp } from "./app.ts";

const database = process.env.STEPWISE_DB ?? ".stepwise/example.db";
mkdirSync(".stepwise", { recursive: true });

const { client, functions } = createExampleApp({ log: (line) => console.log(line) });
const engine = await createEngine({ database, retryDelayScale: 0.2 });
engine.register({ client, functions: Object.values(functions) });

const pending = new Set<string>();
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
  pending.delete(runId);
  if (pending.size === 0) setTimeout(finish, 100);
});

await engine.start();
console.log(`Stepwise example app on ${database}: sending four events…\n`);
const { ids } = await client.send([
  { name: "app/user.signed-up", data: { userId: "u_1", tipsDelay: "3s" } },
  { name: "shop/order.placed", data: { orderId: "1001", items: ["book", "lamp"], total: 99 } },
  { name: "sync/requested", data: {} },
  { name: "billing/charge.requested", data: { customer: "grace@example.com", card: "declined", amount: 30 } },
]);
for (const id of ids) for (const run of await engine.listRuns({ eventId: id })) pending.add(run.id);
// onFailure handlers start from the failed run's system event: count them in as they appear.
const failureWatch = setInterval(async () => {
  for (const run of await engine.listRuns({ status: "Queued" })) pending.add(run.id);
  for (const run of await engine.listRuns({ status: "Running" })) pending.add(run.id);
}, 50);

async function finish() {
  if (pending.size > 0) return;
  clearInterval(failureWatch);
  const runs = await engine.listRuns({ limit: 20 });
  console.log(`\n${runs.length} runs in ${database}. Edit examples/*.ts and run again; state persists across restarts.`);
  await engine.close();
}

process.once("SIGINT", () => void engine.close().then(() => process.exit(130)));
