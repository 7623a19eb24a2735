/**
 * Regenerates the protocol samples in tests/fixtures/protocol-samples/ from the official
 * `inngest` SDK (the v4 devDependency). tests/serve/official-comparison.test.ts replays
 * these call requests against both the official SDK and Stepwise.
 *
 *   node --conditions=stepwise-source --import tsx scripts/capture-protocol-samples.ts [outDir]
 *   npm run fixtures:protocol          (writes into tests/fixtures/protocol-samples)
 *
 * How: a fake Inngest server (plain node:http: `/e/<key>` answers fixed event ids) and an
 * app serving the functions below with `inngest/node`'s `serve` (dev mode, no signing)
 * both listen on 127.0.0.1. Each call request is built here (event, memoized `steps`,
 * `ctx`), POSTed to the app one at a time, and the answer is recorded as
 * `{ [name]: { note?, request: { method, url, headers?, body? }, response: { status, headers, body } } }`.
 * Requests the SDK makes to the fake server during a call are added as
 * `sdkOutboundRequests`. Written files:
 *   04-call-requests.json  the call requests, plus `hashedIds` (sha1 of each step id; the
 *                          script checks every id the SDK reports against it)
 *   03-send-events.json    `step_sendEvent_inside_a_run` (the only send-events sample the test
 *                          replays; the SDK sends the events itself during the call)
 * Introspection (GET) and the sync payload (PUT) are not written: the test compares them
 * live between the two SDKs instead of against a file.
 *
 * Normalised so the files stay comparable between runs: the app's and the fake server's
 * ports are rewritten to 127.0.0.1:3000 and 127.0.0.1:8288; `server-timing` becomes
 * "<timing data>"; transport headers (date, connection, content-length, ...) are dropped;
 * stack traces keep their first line; URLs other than 127.0.0.1 become
 * "<external url trimmed>". The output is formatted with the repository's Biome settings.
 *
 * What still differs from one run to the next, and why the test does not mind: op
 * `timing` values ({ a: start in ns from the wall clock, b: duration }), and in
 * `sdkOutboundRequests` the event `ts` and the `x-inngest-event-id-seed` header. The test
 * reads only the request of each sample and the response status (to check the live
 * official SDK still answers as captured); it compares `timing` by shape only.
 *
 * Only 127.0.0.1 is contacted: `fetch` (global, and the one handed to the SDK client)
 * refuses any other host, and INNGEST_* variables are cleared so none can redirect the SDK.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Inngest, NonRetriableError, RetryAfterError, referenceFunction } from "inngest";
import { serve } from "inngest/node";

type Json = Record<string, unknown>;

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const outDir = resolve(process.argv[2] ?? join(repoRoot, "tests/fixtures/protocol-samples"));

const APP_ORIGIN = "http://127.0.0.1:3000"; // as written in the files
const FAKE_ORIGIN = "http://127.0.0.1:8288";

// ---- loopback only ----------------------------------------------------------------------

for (const name of Object.keys(process.env)) if (name.startsWith("INNGEST_")) delete process.env[name];
const realFetch = globalThis.fetch.bind(globalThis);
const loopbackFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== "127.0.0.1") return Promise.reject(new Error(`refusing to contact ${url.origin}: only 127.0.0.1 is allowed`));
  return realFetch(input, init);
};
globalThis.fetch = loopbackFetch;

// ---- the fake Inngest server ------------------------------------------------------------

interface Outbound {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  fakeServerReplied: { status: number; body: unknown };
}
const outbound: Outbound[] = [];

async function readText(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}
function parse(text: string): unknown {
  if (text === "") return "";
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const fakeServer = createServer(async (req, res) => {
  const body = parse(await readText(req));
  let status = 200;
  let reply: unknown;
  if (req.url?.startsWith("/e/") && Array.isArray(body)) {
    reply = { ids: body.map((_, i) => `01FAKEEVENTID000000000000${i}`), status: 200 };
  } else {
    status = 404;
    reply = { error: "not found", status: 404 };
  }
  outbound.push({ method: req.method ?? "", path: req.url ?? "", headers: requestHeaders(req), body, fakeServerReplied: { status, body: reply } });
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(reply));
});

// ---- the app: functions equivalent to the test's ----------------------------------------

const silent = { info() {}, warn() {}, error() {}, debug() {} };
let client: Inngest;

function defineFunctions() {
  const fn = (id: string, event: string, handler: Parameters<typeof client.createFunction>[1], extra: Json = {}) =>
    client.createFunction({ id, triggers: [{ event }], ...extra }, handler);
  const child = fn("child-fn", "app/child", ({ event }) => ({ doubled: Number(event.data.n) * 2 }));
  return [
    child,
    client.createFunction(
      {
        id: "cfg-kitchen-sink",
        name: "Kitchen sink config",
        retries: 5,
        triggers: [{ event: "app/user.created", if: "event.data.plan == 'pro'" }, { event: "app/user.updated" }],
        idempotency: "event.data.order_id",
        rateLimit: { limit: 100, period: "1h", key: "event.data.account_id" },
        throttle: { limit: 5, period: "1m", key: "event.data.user_id", burst: 2 },
        concurrency: { limit: 10, key: "event.data.user_id", scope: "env" },
        debounce: { period: "10s", key: "event.data.user_id", timeout: "1m" },
        priority: { run: "event.data.plan == 'pro' ? 120 : 0" },
        timeouts: { start: "5m", finish: "1h" },
        cancelOn: [
          { event: "app/user.deleted", match: "data.user_id", timeout: "1d" },
          { event: "app/user.paused", if: "async.data.user_id == event.data.user_id" },
        ],
        onFailure: ({ event, error }) => ({ handled: true, fn: event.data.function_id, msg: error.message }),
      },
      () => "ok",
    ),
    client.createFunction({ id: "cfg-cron", triggers: [{ cron: "TZ=Europe/Paris 0 12 * * 5" }] }, ({ event }) => ({
      cron: (event.data as { cron?: string }).cron,
    })),
    fn("cfg-batch", "app/batched", ({ events }) => ({ count: events.length }), { batchEvents: { maxSize: 50, timeout: "5s" } }),
    fn("steps-seq", "app/seq", async ({ step }) => {
      const a = await step.run("first-step", () => "A");
      const b = await step.run("second-step", () => `${a}B`);
      return { result: b };
    }),
    fn("steps-parallel", "app/parallel", async ({ step }) => {
      const [a, b] = await Promise.all([step.run("par-a", () => 1), step.run("par-b", () => 2)]);
      return { sum: a + b };
    }),
    fn("steps-loop", "app/loop", async ({ step }) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push(await step.run("same-id", () => i));
      return out;
    }),
    fn("steps-sleep", "app/sleep", async ({ step }) => {
      await step.sleep("nap", "1h30m");
      await step.sleep({ id: "nap-ms", name: "Nap given in ms" }, 2500);
      await step.sleepUntil("until", "2030-01-01T00:00:00.000Z");
      return "woke";
    }),
    fn("steps-wait", "app/wait", async ({ step }) => {
      const m = await step.waitForEvent("wait-match", { event: "app/approved", timeout: "1d", match: "data.id" });
      const i = await step.waitForEvent("wait-if", { event: "app/approved", timeout: "2h", if: "async.data.ok == true" });
      return { m, i };
    }),
    fn("steps-send", "app/send", ({ step }) =>
      step.sendEvent("send-1", [
        { name: "app/out", data: { x: 1 } },
        { name: "app/out2", data: {} },
      ]),
    ),
    fn("steps-invoke", "app/invoke", async ({ step }) => {
      const first = await step.invoke("call-child", { function: child, data: { n: 2 }, timeout: "10m" });
      const second = await step.invoke("call-remote", { function: referenceFunction({ appId: "other-app", functionId: "other-fn" }), data: { z: true } });
      return { first, second };
    }),
    fn("steps-error", "app/error", ({ step }) =>
      step.run("boom", () => {
        throw new Error("kaboom");
      }),
    ),
    fn("steps-nonretriable", "app/nre", ({ step }) =>
      step.run("boom-nr", () => {
        throw new NonRetriableError("do not retry me");
      }),
    ),
    fn("steps-retryafter", "app/ra", ({ step }) =>
      step.run("boom-ra", () => {
        throw new RetryAfterError("slow down", "30s");
      }),
    ),
    fn("steps-catch", "app/catch", async ({ step }) => {
      try {
        await step.run("will-fail", () => "never");
      } catch (error) {
        const e = error as Error & { stepId?: string };
        return { caught: e.name, message: e.message, stepId: e.stepId };
      }
    }),
    fn("fn-final", "app/final", ({ event, runId, attempt }) => ({ ok: true, runId, attempt, name: event.name })),
    fn("fn-undefined", "app/undef", () => undefined),
    fn("fn-throws", "app/throws", () => {
      throw new TypeError("bad type");
    }),
    fn("fn-throws-nr", "app/throws-nr", () => {
      throw new NonRetriableError("fatal", { cause: new Error("root cause") });
    }),
    fn("fn-throws-ra", "app/throws-ra", () => {
      throw new RetryAfterError("later", new Date("2030-01-01T00:00:00.000Z"));
    }),
  ];
}

// ---- the call requests ------------------------------------------------------------------

/** Hashed step id, as the protocol defines it: sha1 hex of the id (`id:n` for the n-th repeat). */
const h = (stepId: string) => createHash("sha1").update(stepId).digest("hex");
const STEP_IDS = [
  "first-step",
  "second-step",
  "par-a",
  "par-b",
  "same-id",
  "same-id:1",
  "same-id:2",
  "nap",
  "nap-ms",
  "until",
  "wait-match",
  "wait-if",
  "send-1",
  "call-child",
  "call-remote",
  "boom",
  "boom-nr",
  "boom-ra",
  "will-fail",
];

const TS = 1735689600000;
const ev = (name: string, data: Json = {}, id = "01JEVT00000000000000000001"): Json => ({ name, data, id, ts: TS, user: {} });
const trimmedStack = (header: string) => `${header}\n    at ... (trimmed)`;
const approved = { name: "app/approved", data: { id: "x1", ok: true }, id: "01JAPPROVED000000000000001", ts: 1735689700000, user: {} };

interface CallCase {
  name: string;
  file: "03" | "04";
  note?: string;
  /** Function id without the app prefix; `null` sends no query string at all. */
  fn: string | null;
  stepId?: string;
  /** Number in the run id; request bodies keep the run ids of the first capture. */
  run: number;
  event: Json;
  events?: Json[];
  steps?: Record<string, unknown>;
  attempt?: number;
  maxAttempts?: number;
  /** ctx.disable_immediate_execution */
  plan?: boolean;
  version?: number;
  headers?: Record<string, string>;
}

const cases: CallCase[] = [
  {
    name: "seq_1_first_call_immediate_execution",
    file: "04",
    note: "stepId=step, disable_immediate_execution=false, one new step.run => executed in the same call, 206 [StepRun].",
    fn: "steps-seq",
    run: 1,
    event: ev("app/seq"),
  },
  {
    name: "seq_1b_disable_immediate_execution",
    file: "04",
    note: "Same but ctx.disable_immediate_execution=true => 206 [StepPlanned].",
    fn: "steps-seq",
    run: 2,
    event: ev("app/seq"),
    plan: true,
  },
  {
    name: "seq_1c_execute_planned_step",
    file: "04",
    note: "stepId=<hashed id> => run exactly that step.",
    fn: "steps-seq",
    stepId: h("first-step"),
    run: 3,
    event: ev("app/seq"),
    plan: true,
  },
  { name: "seq_2_first_memoized", file: "04", fn: "steps-seq", run: 4, event: ev("app/seq"), steps: { [h("first-step")]: { data: "A" } } },
  {
    name: "seq_3_all_memoized_function_returns",
    file: "04",
    note: "Function finished => 200 with the raw return value.",
    fn: "steps-seq",
    run: 5,
    event: ev("app/seq"),
    steps: { [h("first-step")]: { data: "A" }, [h("second-step")]: { data: "AB" } },
  },
  {
    name: "req_version_header_ignored",
    file: "04",
    note: "Request version 1 in header and body; SDK still answers x-inngest-req-version: 2.",
    fn: "steps-seq",
    run: 6,
    event: ev("app/seq"),
    version: 1,
    headers: { "x-inngest-req-version": "1" },
  },
  { name: "parallel_1_discovery", file: "04", fn: "steps-parallel", run: 7, event: ev("app/parallel") },
  { name: "parallel_2_execute_par_a", file: "04", fn: "steps-parallel", stepId: h("par-a"), run: 8, event: ev("app/parallel"), plan: true },
  {
    name: "parallel_3_one_of_two_memoized",
    file: "04",
    note: "The SDK re-reports the still-unfinished sibling as StepPlanned; the server must de-duplicate by id.",
    fn: "steps-parallel",
    run: 9,
    event: ev("app/parallel"),
    steps: { [h("par-a")]: { data: 1 } },
    plan: true,
  },
  {
    name: "parallel_4_all_memoized",
    file: "04",
    fn: "steps-parallel",
    run: 10,
    event: ev("app/parallel"),
    steps: { [h("par-a")]: { data: 1 }, [h("par-b")]: { data: 2 } },
    plan: true,
  },
  { name: "loop_1", file: "04", fn: "steps-loop", run: 13, event: ev("app/loop") },
  { name: "loop_2_second_occurrence_gets_suffix_1", file: "04", fn: "steps-loop", run: 14, event: ev("app/loop"), steps: { [h("same-id")]: { data: 0 } } },
  {
    name: "loop_3_third_occurrence_gets_suffix_2",
    file: "04",
    fn: "steps-loop",
    run: 15,
    event: ev("app/loop"),
    steps: { [h("same-id")]: { data: 0 }, [h("same-id:1")]: { data: 1 } },
  },
  {
    name: "loop_4_final",
    file: "04",
    fn: "steps-loop",
    run: 16,
    event: ev("app/loop"),
    steps: { [h("same-id")]: { data: 0 }, [h("same-id:1")]: { data: 1 }, [h("same-id:2")]: { data: 2 } },
  },
  {
    name: "sleep_compound_string_bug",
    file: "04",
    note: "step.sleep('nap', '1h30m') => name '' (the SDK's ms() cannot parse compound strings). The server must cope with an empty duration.",
    fn: "steps-sleep",
    run: 17,
    event: ev("app/sleep"),
  },
  {
    name: "sleep_ms_number",
    file: "04",
    note: "step.sleep(..., 2500) => '2s' (floored to whole seconds); sleep memoized with null.",
    fn: "steps-sleep",
    run: 18,
    event: ev("app/sleep"),
    steps: { [h("nap")]: null },
  },
  {
    name: "sleepUntil",
    file: "04",
    note: "sleepUntil => ISO-8601 string in name; a {data:null} memo also works.",
    fn: "steps-sleep",
    run: 19,
    event: ev("app/sleep"),
    steps: { [h("nap")]: null, [h("nap-ms")]: { data: null } },
  },
  {
    name: "sleep_all_memoized",
    file: "04",
    fn: "steps-sleep",
    run: 20,
    event: ev("app/sleep"),
    steps: { [h("nap")]: null, [h("nap-ms")]: null, [h("until")]: null },
  },
  {
    name: "waitForEvent_match",
    file: "04",
    note: "match:'data.id' becomes if: 'event.data.id == async.data.id'; event name is in `name`, not opts.event.",
    fn: "steps-wait",
    run: 21,
    event: ev("app/wait", { id: "x1" }),
  },
  {
    name: "waitForEvent_memoized_with_event_then_if_variant",
    file: "04",
    fn: "steps-wait",
    run: 22,
    event: ev("app/wait", { id: "x1" }),
    steps: { [h("wait-match")]: approved },
  },
  {
    name: "waitForEvent_second_timed_out_null",
    file: "04",
    fn: "steps-wait",
    run: 23,
    event: ev("app/wait", { id: "x1" }),
    steps: { [h("wait-match")]: approved, [h("wait-if")]: null },
  },
  {
    name: "waitForEvent_memo_with_wrong_event_name",
    file: "04",
    note: "The SDK validates that the memoized event's name equals the awaited name.",
    fn: "steps-wait",
    run: 24,
    event: ev("app/wait", { id: "x1" }),
    steps: { [h("wait-match")]: { ...approved, name: "app/other" } },
  },
  {
    name: "waitForEvent_memo_wrapped_in_data_also_ok",
    file: "04",
    fn: "steps-wait",
    run: 25,
    event: ev("app/wait", { id: "x1" }),
    steps: { [h("wait-match")]: { data: approved }, [h("wait-if")]: { data: null } },
  },
  {
    name: "step_sendEvent_inside_a_run",
    file: "03",
    note: "step.sendEvent is a StepRun executed by the SDK itself: it POSTs /e/<key> during the call and memoizes {ids}.",
    fn: "steps-send",
    run: 27,
    event: ev("app/send"),
  },
  { name: "sendEvent_memoized", file: "04", fn: "steps-send", run: 28, event: ev("app/send"), steps: { [h("send-1")]: { data: { ids: ["a", "b"] } } } },
  { name: "invoke_1", file: "04", fn: "steps-invoke", run: 29, event: ev("app/invoke") },
  {
    name: "invoke_2_memo_data_then_referenceFunction",
    file: "04",
    fn: "steps-invoke",
    run: 30,
    event: ev("app/invoke"),
    steps: { [h("call-child")]: { data: { doubled: 4 } } },
  },
  {
    name: "invoke_3_memo_error",
    file: "04",
    note: "An {error} memo rethrows as StepError; uncaught => function fails non-retriably.",
    fn: "steps-invoke",
    run: 31,
    event: ev("app/invoke"),
    steps: { [h("call-child")]: { error: { name: "Error", message: "child failed", stack: trimmedStack("Error: child failed") } } },
  },
  {
    name: "invoked_function_receives_inngest_function_invoked",
    file: "04",
    fn: "child-fn",
    run: 32,
    event: ev("inngest/function.invoked", { n: 2, _inngest: { fn_id: "probe-app-child-fn", correlation_id: "01JRUNPARENT.abc" } }, "01JINV"),
  },
  {
    name: "event_name_not_in_triggers",
    file: "04",
    note: "Every event in `events` must match one of the function's triggers.",
    fn: "child-fn",
    run: 33,
    event: ev("app/not-a-trigger", { n: 1 }),
  },
  {
    name: "step_error_first_attempt",
    file: "04",
    note: "Retriable step error => 206 [StepError] + x-inngest-no-retry: false.",
    fn: "steps-error",
    run: 34,
    event: ev("app/error"),
    maxAttempts: 4,
  },
  {
    name: "step_error_final_attempt",
    file: "04",
    note: "attempt == max_attempts-1 => 206 [StepFailed] + x-inngest-no-retry: true.",
    fn: "steps-error",
    run: 35,
    event: ev("app/error"),
    attempt: 3,
    maxAttempts: 4,
  },
  {
    name: "step_error_memoized_then_uncaught",
    file: "04",
    fn: "steps-error",
    run: 36,
    event: ev("app/error"),
    steps: { [h("boom")]: { error: { name: "Error", message: "kaboom", stack: trimmedStack("Error: kaboom") } } },
  },
  { name: "step_NonRetriableError", file: "04", fn: "steps-nonretriable", run: 37, event: ev("app/nre"), maxAttempts: 4 },
  { name: "step_RetryAfterError", file: "04", note: "Retry-After in whole seconds.", fn: "steps-retryafter", run: 38, event: ev("app/ra"), maxAttempts: 4 },
  {
    name: "step_error_memoized_and_caught_by_user",
    file: "04",
    fn: "steps-catch",
    run: 39,
    event: ev("app/catch"),
    steps: { [h("will-fail")]: { error: { name: "TypeError", message: "nope" } } },
  },
  { name: "fn_returns", file: "04", fn: "fn-final", run: 40, event: ev("app/final"), attempt: 1 },
  { name: "fn_returns_undefined", file: "04", fn: "fn-undefined", run: 41, event: ev("app/undef") },
  { name: "fn_throws", file: "04", fn: "fn-throws", run: 42, event: ev("app/throws"), maxAttempts: 3 },
  { name: "fn_throws_final_attempt", file: "04", fn: "fn-throws", run: 43, event: ev("app/throws"), attempt: 2, maxAttempts: 3 },
  { name: "fn_throws_NonRetriableError_with_cause", file: "04", fn: "fn-throws-nr", run: 44, event: ev("app/throws-nr") },
  { name: "fn_throws_RetryAfterError_with_date", file: "04", fn: "fn-throws-ra", run: 45, event: ev("app/throws-ra") },
  {
    name: "onFailure_handler",
    file: "04",
    fn: "cfg-kitchen-sink-failure",
    run: 46,
    event: ev(
      "inngest/function.failed",
      {
        function_id: "probe-app-cfg-kitchen-sink",
        run_id: "01JRUNFAILED",
        error: { name: "Error", message: "it broke", stack: trimmedStack("Error: it broke") },
        event: ev("app/user.created", { plan: "pro" }),
      },
      "01JFAILEVT",
    ),
  },
  { name: "cron_function", file: "04", fn: "cfg-cron", run: 47, event: ev("inngest/scheduled.timer", { cron: "TZ=Europe/Paris 0 12 * * 5" }, "01JCRON") },
  {
    name: "batch_function",
    file: "04",
    fn: "cfg-batch",
    run: 48,
    event: ev("app/batched", { account_id: "a" }),
    events: [ev("app/batched", { account_id: "a" }), ev("app/batched", { account_id: "a", n: 2 })],
  },
  { name: "unknown_function", file: "04", fn: "does-not-exist", run: 49, event: ev("app/x") },
  { name: "missing_fnId", file: "04", fn: null, run: 50, event: ev("app/x") },
  { name: "version_0_rejected", file: "04", fn: "fn-final", run: 51, event: ev("app/final"), version: 0 },
];

interface Request {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

function callRequest(c: CallCase): Request {
  const steps = c.steps ?? {};
  const stack = Object.keys(steps);
  const body: Json = {
    event: c.event,
    events: c.events ?? [c.event],
    steps,
    ctx: {
      run_id: `01JRUN${String(c.run).padStart(20, "0")}`,
      attempt: c.attempt ?? 0,
      disable_immediate_execution: c.plan ?? false,
      use_api: false,
      stack: { stack, current: stack.length },
      ...(c.maxAttempts !== undefined ? { max_attempts: c.maxAttempts } : {}),
    },
    ...(c.version !== undefined ? { version: c.version } : {}),
  };
  const query = c.fn === null ? "" : `?fnId=probe-app-${c.fn}&stepId=${c.stepId ?? "step"}`;
  return { method: "POST", url: `${APP_ORIGIN}/api/inngest${query}`, ...(c.headers ? { headers: c.headers } : {}), body };
}

/** Where `trust_probe` goes in 04-call-requests.json (as in the first capture). */
const trustProbe = { after: "missing_fnId", name: "trust_probe", request: { method: "POST", url: `${APP_ORIGIN}/api/inngest?probe=trust`, body: {} } };

// ---- capture and normalisation ----------------------------------------------------------

const TRANSPORT_HEADERS = new Set([
  "accept",
  "accept-encoding",
  "accept-language",
  "connection",
  "content-length",
  "date",
  "host",
  "keep-alive",
  "sec-fetch-mode",
  "transfer-encoding",
]);
function keepHeader(name: string, value: string, into: Record<string, string>) {
  if (TRANSPORT_HEADERS.has(name)) return;
  into[name] = name === "server-timing" ? "<timing data>" : value;
}
function requestHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) keepHeader(String(req.rawHeaders[i]).toLowerCase(), String(req.rawHeaders[i + 1]), out);
  return out;
}

let origins: Array<[string, string]> = [];
function normalizeString(text: string): string {
  let out = text;
  for (const [actual, written] of origins) out = out.replaceAll(actual, written);
  return out.replace(/https?:\/\/[^\s"'`<>)\]]+/g, (url) => (new URL(url).hostname === "127.0.0.1" ? url : "<external url trimmed>"));
}
/** Ports rewritten, external URLs trimmed, stacks cut to their first line. */
function normalize(value: unknown, key?: string): unknown {
  if (typeof value === "string") {
    const text = normalizeString(value);
    if (key !== "stack") return text;
    const frames = text.search(/\n\s+at /);
    return frames < 0 ? text : trimmedStack(text.slice(0, frames));
  }
  if (Array.isArray(value)) return value.map((item) => normalize(item));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
  return value;
}

interface Captured {
  note?: string;
  request: Request;
  response: { status: number; headers: Record<string, string>; body: unknown };
  sdkOutboundRequests?: Outbound[];
}

async function capture(appOrigin: string, request: Request, note?: string): Promise<Captured> {
  const url = new URL(request.url);
  outbound.length = 0;
  const response = await fetch(`${appOrigin}${url.pathname}${url.search}`, {
    method: request.method,
    headers: { "content-type": "application/json", ...request.headers },
    ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of response.headers) keepHeader(name, value, headers);
  const body = parse(await response.text());
  const sent = outbound.splice(0);
  return {
    ...(note ? { note } : {}),
    request,
    response: { status: response.status, headers: normalize(headers) as Record<string, string>, body: normalize(body) },
    ...(sent.length ? { sdkOutboundRequests: normalize(sent) as Outbound[] } : {}),
  };
}

/** Every op id the SDK reports must be the sha1 of its step id (what the requests' memo keys assume). */
function checkHashedIds(name: string, body: unknown) {
  if (!Array.isArray(body)) return;
  for (const op of body as Json[]) {
    const userland = op.userland as { id: string; index?: number } | undefined;
    if (!userland) continue;
    const stepId = userland.index ? `${userland.id}:${userland.index}` : userland.id;
    if (op.id !== h(stepId)) throw new Error(`${name}: the SDK reports id ${String(op.id)} for step ${stepId}, expected ${h(stepId)}`);
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

/** Formats JSON as the repository's Biome configuration would (falls back to plain JSON). */
function formatJson(value: unknown, file: string): string {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    const biome = join(repoRoot, "node_modules/.bin/biome");
    return execFileSync(biome, ["format", `--stdin-file-path=${join(repoRoot, "tests/fixtures/protocol-samples", file)}`], {
      cwd: repoRoot,
      input: text,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    console.warn(`biome format failed for ${file}, writing plain JSON: ${(error as Error).message}`);
    return text;
  }
}

async function main() {
  const fakeOrigin = await listen(fakeServer);
  client = new Inngest({ id: "probe-app", isDev: true, baseUrl: fakeOrigin, fetch: loopbackFetch, logger: silent, internalLogger: silent });
  const app = createServer(serve({ client, functions: defineFunctions() }));
  const appOrigin = await listen(app);
  origins = [
    [appOrigin, APP_ORIGIN],
    [fakeOrigin, FAKE_ORIGIN],
  ];
  try {
    const calls: Record<string, Captured> = {};
    const sends: Record<string, Captured> = {};
    let sdk = "";
    for (const c of cases) {
      const captured = await capture(appOrigin, callRequest(c), c.note);
      checkHashedIds(c.name, captured.response.body);
      (c.file === "03" ? sends : calls)[c.name] = captured;
      sdk ||= captured.response.headers["x-inngest-sdk"] ?? "";
      if (c.name === trustProbe.after) calls[trustProbe.name] = await capture(appOrigin, trustProbe.request);
    }
    const about =
      `Captured by scripts/capture-protocol-samples.ts from the official inngest npm SDK ${sdk.replace(/^inngest-js:/, "")} ` +
      `served with inngest/node, talking to a plain node:http fake server. Ports rewritten: fake Inngest server = ${FAKE_ORIGIN.slice(7)}, ` +
      `dev-mode app = ${APP_ORIGIN.slice(7)}. Stack traces trimmed. Timestamps come from the capturing machine's clock.`;
    mkdirSync(outDir, { recursive: true });
    const files: Array<[string, Json]> = [
      ["03-send-events.json", { _about: about, ...sends }],
      ["04-call-requests.json", { _about: about, hashedIds: Object.fromEntries(STEP_IDS.map((id) => [id, h(id)])), ...calls }],
    ];
    for (const [file, content] of files) writeFileSync(join(outDir, file), formatJson(content, file));
    console.log(`wrote ${files.map(([file]) => file).join(", ")} (${cases.length + 1} samples) to ${outDir}`);
  } finally {
    await Promise.all([app, fakeServer].map((server) => new Promise((done) => server.close(done))));
  }
}

await main();
