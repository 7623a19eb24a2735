/**
 * A Connect worker for tests and the benchmark: the official SDK's `connect()` from
 * `inngest/connect`, in its own process (Node 20 needs `--experimental-websocket`).
 * Environment: `STEPWISE_URL`, `WORKER_ID` (its instance id), optional `SIGNING_KEY`.
 * Prints one JSON line per event on stdout: `{ ready }`, `{ step, worker, runId }`, `{ closed }`.
 * SIGTERM is the SDK's own graceful shutdown (`WORKER_PAUSE`, then it drains).
 */
import { Inngest } from "inngest";
import { connect } from "inngest/connect";

const worker = process.env.WORKER_ID ?? "w";
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ worker, ...line })}\n`);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const signingKey = process.env.SIGNING_KEY;
const inngest = new Inngest({
  id: "connect-app",
  baseUrl: process.env.STEPWISE_URL as string,
  logger: process.env.WORKER_DEBUG ? console : quiet,
  ...(signingKey ? { signingKey, isDev: false } : { isDev: true }),
});

const attempts = new Map<string, number>();

const functions = [
  inngest.createFunction({ id: "steps", retries: 3, triggers: [{ event: "connect/steps" }] }, async ({ event, step, runId }) => {
    const a = await step.run("a", () => {
      say({ step: "a", runId });
      return `hi ${event.data.name}`;
    });
    await step.sleep("nap", "1s");
    const b = await step.run("flaky", () => {
      const n = (attempts.get(runId) ?? 0) + 1;
      attempts.set(runId, n);
      say({ step: "flaky", runId, attempt: n });
      if (n < 2) throw new Error(`flake ${n}`);
      return n;
    });
    return { a, b, finishedBy: worker };
  }),
  inngest.createFunction({ id: "napper", triggers: [{ event: "connect/nap" }] }, async ({ event, step, runId }) => {
    await step.run("before", () => say({ step: "before", runId }));
    await step.sleep("nap", String(event.data.sleep ?? "3s"));
    return step.run("after", () => {
      say({ step: "after", runId });
      return worker;
    });
  }),
  inngest.createFunction({ id: "slow", retries: 2, triggers: [{ event: "connect/slow" }] }, async ({ event, step, runId }) => {
    return step.run("work", async () => {
      say({ step: "work-start", runId });
      await new Promise((r) => setTimeout(r, Number(event.data.ms ?? 3000)));
      say({ step: "work-end", runId });
      return worker;
    });
  }),
  inngest.createFunction({ id: "one", triggers: [{ event: "connect/one" }] }, async ({ step }) => step.run("one", () => 1)),
  inngest.createFunction({ id: "three", triggers: [{ event: "connect/three" }] }, async ({ step }) => {
    const a = await step.run("one", () => 1);
    const b = await step.run("two", () => a + 1);
    return step.run("three", () => b + 1);
  }),
];

// same thread: the worker-thread strategy would need the WebSocket flag inside its thread too
const connection = await connect({ apps: [{ client: inngest, functions }], instanceId: worker, isolateExecution: false });
say({ ready: connection.connectionId });
await connection.closed;
say({ closed: true });
process.exit(0);
