/**
 * Stepwise's serve handler against the official `inngest` SDK v4 (both served with their
 * node adapters on 127.0.0.1, dev mode): the same call requests (taken from
 * tests/fixtures/protocol-samples/04-call-requests.json and 03-send-events.json, which
 * scripts/capture-protocol-samples.ts regenerates: `npm run fixtures:protocol`) go to equivalent
 * functions in both, and the answers must agree on status, `x-inngest-no-retry`,
 * `retry-after`, op codes, hashed ids, `name`, `opts`, `displayName`, `userland`, `data`
 * and error name/message. Where the two legitimately differ (SDK name header, stack
 * traces, timing values, and the few behaviours listed in `knownDifferences`) the test
 * compares shape only and says why. Also compared: introspection and the sync payload.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { silentLogger } from "@stepwise/protocol";
import * as official from "inngest";
import { serve as officialServe } from "inngest/node";
import * as ours from "stepwise";
import { serve as oursServe } from "stepwise/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const samplesDir = fileURLToPath(new URL("../fixtures/protocol-samples/", import.meta.url));
const readSamples = (file: string) => JSON.parse(readFileSync(`${samplesDir}${file}`, "utf8")) as Record<string, Sample>;
interface Sample {
  request: { method: string; url: string; headers?: Record<string, string>; body?: unknown };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

// ---- equivalent functions, written once against the shared Inngest API -------------

interface StepLike {
  run(id: string | { id: string; name?: string }, fn: () => unknown): Promise<unknown>;
  sleep(id: string | { id: string; name?: string }, duration: string | number): Promise<void>;
  sleepUntil(id: string, until: string | Date): Promise<void>;
  waitForEvent(id: string, options: Record<string, unknown>): Promise<unknown>;
  sendEvent(id: string, events: unknown): Promise<unknown>;
  invoke(id: string, options: Record<string, unknown>): Promise<unknown>;
}
interface Ctx {
  event: { name: string; data: Record<string, unknown> };
  events: unknown[];
  step: StepLike;
  runId: string;
  attempt: number;
  error: Error;
}
type Factory = { createFunction(options: Record<string, unknown>, handler: (ctx: Ctx) => unknown): unknown };
interface ErrorClasses {
  NonRetriableError: new (message: string, options?: { cause?: unknown }) => Error;
  RetryAfterError: new (message: string, retryAfter: string | number | Date) => Error;
}

function defineFunctions(client: Factory, errors: ErrorClasses, remoteFunction: unknown) {
  const fn = (id: string, event: string, handler: (ctx: Ctx) => unknown, extra: Record<string, unknown> = {}) =>
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
        onFailure: ({ event, error }: Ctx) => ({ handled: true, fn: event.data.function_id, msg: error.message }),
      },
      () => "ok",
    ),
    client.createFunction({ id: "cfg-cron", triggers: [{ cron: "TZ=Europe/Paris 0 12 * * 5" }] }, ({ event }) => ({ cron: event.data.cron })),
    fn("cfg-batch", "app/batched", ({ events }) => ({ count: events.length }), { batchEvents: { maxSize: 50, timeout: "5s" } }),
    fn("steps-seq", "app/seq", async ({ step }) => {
      const a = await step.run("first-step", () => "A");
      const b = await step.run("second-step", () => `${a}B`);
      return { result: b };
    }),
    fn("steps-parallel", "app/parallel", async ({ step }) => {
      const [a, b] = (await Promise.all([step.run("par-a", () => 1), step.run("par-b", () => 2)])) as number[];
      return { sum: (a as number) + (b as number) };
    }),
    fn("steps-loop", "app/loop", async ({ step }) => {
      const out: unknown[] = [];
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
        { name: "app/one", data: {} },
        { name: "app/two", data: {} },
      ]),
    ),
    fn("steps-invoke", "app/invoke", async ({ step }) => {
      const first = await step.invoke("call-child", { function: child, data: { n: 2 }, timeout: "10m" });
      const second = await step.invoke("call-remote", { function: remoteFunction, data: { z: true } });
      return { first, second };
    }),
    fn("steps-error", "app/error", ({ step }) =>
      step.run("boom", () => {
        throw new Error("kaboom");
      }),
    ),
    fn("steps-nonretriable", "app/nre", ({ step }) =>
      step.run("boom-nr", () => {
        throw new errors.NonRetriableError("do not retry me");
      }),
    ),
    fn("steps-retryafter", "app/ra", ({ step }) =>
      step.run("boom-ra", () => {
        throw new errors.RetryAfterError("slow down", "30s");
      }),
    ),
    fn("steps-catch", "app/catch", async ({ step }) => {
      try {
        await step.run("will-fail", () => "never");
      } catch (error) {
        return { caught: (error as Error).name, message: (error as Error).message };
      }
    }),
    fn("fn-final", "app/final", ({ event, runId, attempt }) => ({ ok: true, runId, attempt, name: event.name })),
    fn("fn-undefined", "app/undef", () => undefined),
    fn("fn-throws", "app/throws", () => {
      throw new TypeError("bad type");
    }),
    fn("fn-throws-nr", "app/throws-nr", () => {
      throw new errors.NonRetriableError("fatal", { cause: new Error("root cause") });
    }),
    fn("fn-throws-ra", "app/throws-ra", () => {
      throw new errors.RetryAfterError("later", new Date("2030-01-01T00:00:00.000Z"));
    }),
  ];
}

// ---- servers ----------------------------------------------------------------------

interface Listening {
  server: Server;
  origin: string;
}
function listen(server: Server): Promise<Listening> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
  );
}
const close = (l: Listening | undefined) => new Promise<void>((done) => (l ? l.server.close(() => done()) : done()));
async function readText(req: IncomingMessage) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

/** A fake server: `/e/<key>` answers fixed ids; `/fn/register` records the payload. */
const registered: Record<string, unknown>[] = [];
let fake: Listening;
let officialApp: Listening;
let ourApp: Listening;

beforeAll(async () => {
  fake = await listen(
    createServer(async (req, res) => {
      const body = await readText(req);
      res.setHeader("content-type", "application/json");
      if (req.url?.startsWith("/e/")) {
        const events = JSON.parse(body) as unknown[];
        res.end(JSON.stringify({ ids: events.map((_, i) => `01FAKEEVENTID000000000000${i}`), status: 200 }));
      } else if (req.url?.startsWith("/fn/register")) {
        registered.push(JSON.parse(body));
        res.end(JSON.stringify({ ok: true, modified: true }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error: "not found", status: 404 }));
      }
    }),
  );
  const officialClient = new official.Inngest({ id: "probe-app", isDev: true, baseUrl: fake.origin, logger: silentLogger });
  const officialFunctions = defineFunctions(
    officialClient as unknown as Factory,
    official as unknown as ErrorClasses,
    official.referenceFunction({ appId: "other-app", functionId: "other-fn" }),
  );
  officialApp = await listen(createServer(officialServe({ client: officialClient, functions: officialFunctions as never })));
  const ourClient = new ours.Stepwise({ id: "probe-app", isDev: true, baseUrl: fake.origin, logger: silentLogger });
  const ourFunctions = defineFunctions(ourClient as unknown as Factory, ours as unknown as ErrorClasses, "other-app-other-fn");
  ourApp = await listen(createServer(oursServe({ client: ourClient, functions: ourFunctions as ours.StepwiseFunction[] })));
});

afterAll(async () => {
  await Promise.all([close(fake), close(officialApp), close(ourApp)]);
});

// ---- comparison --------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}
async function send(origin: string, sample: Sample): Promise<Answer> {
  const url = new URL(sample.request.url);
  const body =
    sample.request.body === undefined ? undefined : typeof sample.request.body === "string" ? sample.request.body : JSON.stringify(sample.request.body);
  const response = await fetch(`${origin}/api/inngest${url.search}`, {
    method: sample.request.method,
    headers: { "content-type": "application/json", ...sample.request.headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? "" : JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed };
}

type Json = Record<string, unknown>;
/** What must be equal in an op: everything but `timing` and error stacks. */
function opEssentials(op: Json): Json {
  const { timing: _timing, error, ...rest } = op;
  const e = error as Json | undefined;
  return { ...rest, ...(e ? { error: { name: e.name, message: e.message } } : {}) };
}
/** What must be equal in an error body: name, message, cause (no stacks). */
function errorEssentials(body: Json): Json {
  const cause = body.cause as Json | undefined;
  return { type: body.type, name: body.name, message: body.message, ...(cause ? { cause: { name: cause.name, message: cause.message } } : {}) };
}

/**
 * Behaviours where Stepwise differs on purpose; each entry adjusts both answers to
 * what is compared and asserts each side's own value.
 */
const knownDifferences: Record<string, (theirs: Answer, mine: Answer) => void> = {
  // Official SDK bug: ms() cannot parse "1h30m" and sends "" (sleep 0). We send "1h30m".
  sleep_compound_string_bug: (theirs, mine) => {
    expect([(theirs.body as Json[])[0]?.name, (mine.body as Json[])[0]?.name]).toEqual(["", "1h30m"]);
    for (const a of [theirs, mine]) delete (a.body as Json[])[0]?.name;
  },
  // The official SDK floors 2500 ms to whole seconds ("2s"); we keep the exact duration.
  sleep_ms_number: (theirs, mine) => {
    expect([(theirs.body as Json[])[0]?.name, (mine.body as Json[])[0]?.name]).toEqual(["2s", "2s500ms"]);
    for (const a of [theirs, mine]) delete (a.body as Json[])[0]?.name;
  },
  // A caught step failure: the official SDK rethrows an error named like the original
  // ("TypeError"); ours is a `StepError` (same message, original as `cause`).
  step_error_memoized_and_caught_by_user: (theirs, mine) => {
    expect([(theirs.body as Json).caught, (mine.body as Json).caught]).toEqual(["TypeError", "StepError"]);
    for (const a of [theirs, mine]) delete (a.body as Json).caught;
  },
  // Retry-After for a Date: the official SDK sends the ISO instant, we send whole seconds.
  fn_throws_RetryAfterError_with_date: (theirs, mine) => {
    const at = Date.parse(theirs.headers.get("retry-after") ?? "");
    const seconds = Number(mine.headers.get("retry-after"));
    expect(Math.abs(Date.now() + seconds * 1000 - at)).toBeLessThan(5_000);
  },
  // Body-validation message: ours names the field instead of the official generic advice.
  version_0_rejected: (theirs, mine) => {
    expect((mine.body as Json).message).toMatch(/"version" must be -1, 1 or 2/);
    for (const a of [theirs, mine]) delete (a.body as Json).message;
  },
};

const calls = readSamples("04-call-requests.json");
const sends = readSamples("03-send-events.json");
const cases: Array<[string, Sample]> = [
  ...[
    "seq_1_first_call_immediate_execution",
    "seq_1b_disable_immediate_execution",
    "seq_1c_execute_planned_step",
    "seq_2_first_memoized",
    "seq_3_all_memoized_function_returns",
    "req_version_header_ignored",
    "parallel_1_discovery",
    "parallel_2_execute_par_a",
    "parallel_3_one_of_two_memoized",
    "parallel_4_all_memoized",
    "loop_1",
    "loop_2_second_occurrence_gets_suffix_1",
    "loop_3_third_occurrence_gets_suffix_2",
    "loop_4_final",
    "sleep_compound_string_bug",
    "sleep_ms_number",
    "sleepUntil",
    "sleep_all_memoized",
    "waitForEvent_match",
    "waitForEvent_memoized_with_event_then_if_variant",
    "waitForEvent_second_timed_out_null",
    "waitForEvent_memo_with_wrong_event_name",
    "waitForEvent_memo_wrapped_in_data_also_ok",
    "sendEvent_memoized",
    "invoke_1",
    "invoke_2_memo_data_then_referenceFunction",
    "invoke_3_memo_error",
    "invoked_function_receives_inngest_function_invoked",
    "event_name_not_in_triggers",
    "step_error_first_attempt",
    "step_error_final_attempt",
    "step_error_memoized_then_uncaught",
    "step_NonRetriableError",
    "step_RetryAfterError",
    "step_error_memoized_and_caught_by_user",
    "fn_returns",
    "fn_returns_undefined",
    "fn_throws",
    "fn_throws_final_attempt",
    "fn_throws_NonRetriableError_with_cause",
    "fn_throws_RetryAfterError_with_date",
    "onFailure_handler",
    "cron_function",
    "batch_function",
    "unknown_function",
    "missing_fnId",
    "trust_probe",
    "version_0_rejected",
  ].map((name): [string, Sample] => [name, calls[name] as Sample]),
  ["step_sendEvent_inside_a_run", sends.step_sendEvent_inside_a_run as Sample],
];
// Not captured nor compared, for lack of the feature in Stepwise: group.parallel race mode,
// step.waitForSignal, extra step.run arguments, optimizeParallelism: false.
// A stepId the function never reaches: the official SDK waits 10 s then answers a 500 listing
// the steps it found; Stepwise answers at once with a retriable error (docs/compatibility.md).

describe("serve() answers call requests as the official SDK does", () => {
  it.each(cases)("%s", async (name, sample) => {
    expect(sample, `sample ${name} exists`).toBeDefined();
    const [theirs, mine] = await Promise.all([send(officialApp.origin, sample), send(ourApp.origin, sample)]);
    // The official SDK reproduces its own capture (guards against a drifting fixture).
    expect(theirs.status).toBe(sample.response.status);
    expect(mine.status, JSON.stringify(mine.body)).toBe(theirs.status);
    for (const header of ["x-inngest-no-retry", "x-inngest-req-version", "x-inngest-sdk-handled", "content-type"]) {
      expect(mine.headers.get(header), header).toBe(theirs.headers.get(header));
    }
    expect(mine.headers.has("retry-after"), "retry-after").toBe(theirs.headers.has("retry-after"));
    expect(mine.headers.get("x-inngest-sdk")).toMatch(/^stepwise:v/); // theirs: inngest-js:v4.24.0
    knownDifferences[name]?.(theirs, mine);
    if (theirs.headers.has("retry-after") && !knownDifferences[name]) expect(mine.headers.get("retry-after")).toBe(theirs.headers.get("retry-after"));
    if (theirs.status === 206) {
      expect((mine.body as Json[]).map(opEssentials)).toEqual((theirs.body as Json[]).map(opEssentials));
      // Timing is a measurement: compare its shape.
      (theirs.body as Json[]).forEach((op, i) => {
        if (op.timing) expect((mine.body as Json[])[i]?.timing).toEqual({ a: expect.any(Number), b: expect.any(Number) });
      });
    } else if (theirs.status >= 400) {
      expect(errorEssentials(mine.body as Json)).toEqual(errorEssentials(theirs.body as Json));
      expect(typeof (mine.body as Json).stack).toBe(typeof (theirs.body as Json).stack);
    } else {
      expect(mine.body).toEqual(theirs.body);
    }
  });
});

describe("introspection and sync match the official SDK", () => {
  it("GET in dev mode has the same shape and counts", async () => {
    const get = { request: { method: "GET", url: "http://x/api/inngest" } } as unknown as Sample;
    const [theirs, mine] = await Promise.all([send(officialApp.origin, get), send(ourApp.origin, get)]);
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual(theirs.body);
  });

  it("PUT registers the same function definitions", async () => {
    registered.length = 0;
    const put = { request: { method: "PUT", url: "http://x/api/inngest?deployId=dep-1", headers: { "x-inngest-server-kind": "dev" } } } as unknown as Sample;
    const theirs = await send(officialApp.origin, put);
    const mine = await send(ourApp.origin, put);
    expect([theirs.status, mine.status]).toEqual([200, 200]);
    expect(mine.body).toEqual(theirs.body);
    const [officialPayload, ourPayload] = registered as Array<{ url: string; appName: string; functions: Json[] }>;
    expect(ourPayload?.appName).toBe(officialPayload?.appName);
    const normalize = (payload: { url: string; functions: Json[] }): Json[] =>
      payload.functions.map((f) => {
        const step = (f.steps as { step: Json }).step;
        const runtime = step.runtime as { url: string };
        const { retries: _retries, ...stepRest } = step;
        return { ...f, steps: { step: { ...stepRest, runtime: { ...runtime, url: runtime.url.replace(new URL(payload.url).origin, "") } } } };
      });
    const theirsById = new Map(normalize(officialPayload as never).map((f) => [String(f.id), f]));
    const mineById = new Map(normalize(ourPayload as never).map((f) => [String(f.id), f]));
    expect([...mineById.keys()].sort()).toEqual([...theirsById.keys()].sort());
    for (const [id, fn] of mineById) {
      if (id.endsWith("-failure")) {
        // Companion trigger: same event; the expression quotes the id with " (ours) vs ' (theirs).
        const [t, m] = [theirsById.get(id)?.triggers as Json[], fn.triggers as Json[]];
        expect(String(m[0]?.expression).replaceAll('"', "'")).toBe(t[0]?.expression);
        continue;
      }
      expect(fn, id).toEqual(theirsById.get(id));
    }
    // Retries: the user's value is sent as is; when unset the official SDK omits it, we send the default (4).
    const attempts = (payload: { functions: Json[] }, id: string) =>
      ((payload.functions.find((f) => f.id === id)?.steps as { step: Json } | undefined)?.step.retries as { attempts: number } | undefined)?.attempts;
    expect(attempts(ourPayload as never, "probe-app-cfg-kitchen-sink")).toBe(attempts(officialPayload as never, "probe-app-cfg-kitchen-sink"));
    expect([attempts(officialPayload as never, "probe-app-steps-seq"), attempts(ourPayload as never, "probe-app-steps-seq")]).toEqual([undefined, 4]);
  });
});
