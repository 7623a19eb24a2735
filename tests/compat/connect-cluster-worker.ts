/**
 * A Connect worker for tests/compat/connect-cluster.test.ts: the official SDK's `connect()`
 * (Node 20: `--experimental-websocket`), app `cluster-app`: `chain` (three steps), `fragile` (one step, no retries).
 * Environment: `STEPWISE_URL`, `SIGNING_KEY`. Prints one JSON line per step execution:
 * `{ step, runId, at }` (`at`: when the step body began, epoch ms), and `{ ready }`.
 */
import { Inngest } from "inngest";
import { connect } from "inngest/connect";

const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const inngest = new Inngest({
  id: "cluster-app",
  baseUrl: process.env.STEPWISE_URL as string,
  signingKey: process.env.SIGNING_KEY as string,
  isDev: false,
  logger: process.env.WORKER_DEBUG ? console : quiet,
});

const stepBody = (name: string, runId: string, value: number) => async () => {
  say({ step: name, runId, at: Date.now() });
  await new Promise((r) => setTimeout(r, 40));
  return value + 1;
};

const chain = inngest.createFunction({ id: "chain", retries: 3, triggers: [{ event: "cluster/chain" }] }, async ({ step, runId }) => {
  const a = await step.run("s1", stepBody("s1", runId, 0));
  const b = await step.run("s2", stepBody("s2", runId, a));
  return step.run("s3", stepBody("s3", runId, b));
});

// no retries: a call that spent an attempt on a failed forward would fail the run
const fragile = inngest.createFunction({ id: "fragile", retries: 0, triggers: [{ event: "cluster/fragile" }] }, async ({ step, runId }) =>
  step.run("only", stepBody("only", runId, 41)),
);

const connection = await connect({ apps: [{ client: inngest, functions: [chain, fragile] }], instanceId: "cluster-worker", isolateExecution: false });
say({ ready: connection.connectionId });
await connection.closed;
process.exit(0);
