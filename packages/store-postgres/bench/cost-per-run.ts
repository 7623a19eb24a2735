/**
 * @module bench/cost-per-run
 * What one run costs on Postgres: N runs of a three-step function on one engine
 * (`createEngine({ database: url })`), counting the database's commits
 * (`pg_stat_database.xact_commit`) and this process's CPU time per run. The database
 * keeps Postgres's default `synchronous_commit = on`, as in production.
 *
 *   node --conditions=stepwise-source --import tsx packages/store-postgres/bench/cost-per-run.ts [runs]
 */
import pg from "pg";
import { Stepwise, silentLogger } from "stepwise";
import { createEngine } from "stepwise/engine";
import { createTestDatabase } from "../src/testing.ts";

const runs = Number(process.argv[2] ?? 300);
const db = await createTestDatabase();
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();
await admin.query(`ALTER DATABASE ${new URL(db.url).pathname.slice(1)} RESET synchronous_commit`);

const client = new Stepwise({ id: "bench", logger: silentLogger });
const fn = client.createFunction({ id: "three" }, { event: "bench/go" }, async ({ step }) => {
  const a = await step.run("a", () => 1);
  const b = await step.run("b", () => a + 1);
  return step.run("c", () => b + 1);
});
const engine = await createEngine({ database: db.url, logger: silentLogger });
engine.register({ client, functions: [fn] });
await engine.start();

const commits = async () => Number((await admin.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).rows[0].xact_commit);
await new Promise((r) => setTimeout(r, 1_500)); // pg_stat is flushed at most once a second
const before = await commits();
const cpu = process.cpuUsage();
const started = performance.now();
const { ids } = await client.send(Array.from({ length: runs }, (_, i) => ({ name: "bench/go", data: { i } })));
for (const id of ids) {
  const [run] = await engine.listRuns({ eventId: id });
  await engine.waitForRun(run!.id, { timeoutMs: 120_000 });
}
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
await engine.close();
await new Promise((r) => setTimeout(r, 1_500));
const after = await commits();
// the bench's own reads (listRuns, waitForRun polling) are commits too: an upper bound
console.log(
  `${runs} runs of 3 steps: ${Math.round(runs / (ms / 1000))} runs/s, ≤${((after - before) / runs).toFixed(1)} commits/run, ` +
    `${((used.user + used.system) / 1000 / runs).toFixed(2)} ms engine CPU/run`,
);
await admin.end();
await db.drop();
