/**
 * @module schemas
 * Every route's body and query parameters, as zod schemas, and the one way they are read:
 * `readJson` (the raw body: valid UTF-8, valid JSON, no number that overflows) and `parse`
 * (a failed schema is a 400 `invalid_argument` naming the field).
 */
import { StepwiseError } from "@stepwise/protocol";
import { z } from "zod";

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The body as text; invalid UTF-8 is refused rather than replaced with U+FFFD. */
export async function readText(req: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<string> {
  const bytes = await req.arrayBuffer();
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    throw new StepwiseError("invalid_argument", "body: not valid UTF-8");
  }
}

/** Names the first number that JSON.parse turned into ±Infinity (`1e400`): JSON would store it as null. */
function checkFinite(value: unknown, path: string, depth = 0): void {
  if (depth > 256) throw new StepwiseError("invalid_argument", `${path}: nested deeper than 256 levels`);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new StepwiseError("invalid_argument", `${path}: number out of range (it overflows to ${value})`);
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkFinite(v, `${path}[${i}]`, depth + 1);
    return;
  }
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) checkFinite(v, path === "body" ? k : `${path}.${k}`, depth + 1);
  }
}

/**
 * The body as JSON. `emptyAs`: what an empty body means (undefined: an empty body is
 * malformed JSON). Throws SyntaxError for malformed JSON (the error mapping makes it 400).
 */
export async function readJson(req: { arrayBuffer(): Promise<ArrayBuffer> }, emptyAs?: unknown): Promise<unknown> {
  const text = await readText(req);
  if (emptyAs !== undefined && text.trim() === "") return emptyAs;
  const value = JSON.parse(text) as unknown;
  checkFinite(value, "body");
  return value;
}

function fieldOf(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out || "body";
}

/** Parses with a schema; a failure is `invalid_argument` naming the first bad field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where?: string): z.output<S> {
  // `where` given: `where: "field" message` (the registration messages' style)
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const field = fieldOf(issue.path);
  throw new StepwiseError(
    "invalid_argument",
    where ? `${where}: ${JSON.stringify(field)} ${issue.message}` : `${field}${issue.message.startsWith("is ") ? " " : ": "}${issue.message}`,
  );
}

const statuses = ["Queued", "Running", "Completed", "Failed", "Cancelled", "Skipped"] as const;
export const runStatus = z.enum(statuses, { error: `expected one of ${statuses.join(", ")}` });

const object = z.record(z.string(), z.unknown());

/** An optional instant: unix ms or an ISO date that `Date` can hold (±8.64e15 ms). */
const optionalInstant = z
  .unknown()
  .transform((value, ctx) => {
    if (value === undefined || value === null || value === "") return undefined;
    const ms = typeof value === "number" ? value : typeof value === "string" ? (/^\d+$/.test(value) ? Number(value) : Date.parse(value)) : Number.NaN;
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
      ctx.addIssue({ code: "custom", message: `expected an ISO date or unix ms, received ${JSON.stringify(value)?.slice(0, 100)}` });
      return z.NEVER;
    }
    return ms;
  })
  .optional();

export const bulkBody = z.object(
  {
    function_id: z.string({ error: "is required" }).min(1, "is required"),
    status: runStatus.optional(),
    from: optionalInstant,
    to: optionalInstant,
  },
  { error: "expected a JSON object" },
);

export const rerunBody = z.object(
  {
    from_step: z.string({ error: "expected a step name (or hashed id) of the run" }).min(1, "expected a step name (or hashed id) of the run").optional(),
    data: z.record(z.string(), z.unknown(), { error: "expected an object (the new event data)" }).optional(),
  },
  { error: "expected a JSON object" },
);

export const replayBody = z.object(
  {
    function_id: z.string({ error: "is required" }).min(1, "is required"),
    status: runStatus.optional(),
    statuses: z.array(runStatus, { error: `expected an array of statuses` }).min(1, "expected at least one status").optional(),
    from: optionalInstant,
    to: optionalInstant,
  },
  { error: "expected a JSON object" },
);

export const statsQuery = z.object({
  range: z.enum(["1h", "24h"], { error: 'expected "1h" or "24h"' }).optional(),
});

export const stuckQuery = z.object({
  limit: z
    .string()
    .regex(/^\d+$/, "expected an integer from 1 to 100")
    .transform(Number)
    .pipe(z.number().int().min(1, "expected an integer from 1 to 100").max(100, "expected an integer from 1 to 100"))
    .optional(),
});

export const invokeBody = z.object(
  { data: z.record(z.string(), z.unknown(), { error: "expected an object" }).optional() },
  { error: "expected a JSON object" },
);

export const signalBody = z.object(
  { signal: z.string({ error: "expected a non-empty string" }).min(1, "expected a non-empty string"), data: z.unknown().optional() },
  { error: "expected a JSON object" },
);

export const syncBody = z.object(
  { url: z.string({ error: "expected the app's http(s) serve URL" }).regex(/^https?:\/\//, "expected the app's http(s) serve URL") },
  { error: "expected a JSON object" },
);

const limit = z
  .string()
  .regex(/^\d+$/, "expected an integer from 1 to 1000")
  .transform(Number)
  .pipe(z.number().int().min(1, "expected an integer from 1 to 1000").max(1000, "expected an integer from 1 to 1000"))
  .optional();

export const eventsQuery = z.object({ name: z.string().optional(), cursor: z.string().optional(), limit });

export const runsQuery = z.object({
  status: runStatus.optional(),
  function_id: z.string().optional(),
  event_id: z.string().optional(),
  /** Only the runs this run deferred (`defer()`). */
  parent_run_id: z.string().optional(),
  cursor: z.string().optional(),
  from: optionalInstant,
  to: optionalInstant,
  limit,
});

/**
 * A function id as an app sends it, before anything rewrites it: printable, no markup,
 * no path separators or `..`, no URL delimiters.
 */
export const wireFunctionId = z
  .string({ error: 'every function needs a string "id"' })
  .min(1, 'every function needs a string "id"')
  .max(256, "at most 256 characters")
  .regex(/^[^\s<>"'`\\/?#%&\p{C}]+$/u, "must not contain whitespace, control characters or any of < > \" ' ` \\ / ? # % &")
  .refine((id) => !id.includes(".."), 'must not contain ".."');

const wireTrigger = z.union(
  [z.object({ event: z.string(), expression: z.string().optional() }), z.object({ cron: z.string(), jitter: z.string().optional() })],
  {
    error: 'expected { event: "name" } or { cron: "* * * * *" }',
  },
);

const wireFunction = z.object(
  {
    id: wireFunctionId,
    name: z.string().optional(),
    triggers: z.array(wireTrigger, { error: "expected an array of triggers" }).optional(),
    steps: z.record(z.string(), z.unknown()).optional(),
    cancel: z.array(z.object({ event: z.string(), if: z.string().optional(), timeout: z.string().optional() }, { error: "expected { event }" })).optional(),
  },
  { error: "expected a function object" },
);

export const registerBody = z.object(
  {
    url: z.string({ error: "is required" }).min(1, "is required"),
    appName: z.string({ error: "is required" }).min(1, "is required"),
    functions: z.array(wireFunction, { error: "must be an array" }),
  },
  { error: "expected a JSON object body" },
);

export const tokenBody = z.object({ name: z.string().optional() });

export const eventPayloadShape = z.union([object, z.array(z.unknown())], { error: "expected an event object or an array of events" });

const realtimeName = (what: string) =>
  z
    .string({ error: `${what}: expected a non-empty string` })
    .min(1, { error: `${what}: expected a non-empty string` })
    .max(256, { error: `${what}: at most 256 characters` });

/** `POST /v1/realtime/token`: the official SDK's body, one entry per topic of one channel. */
export const realtimeTokenBody = z
  .array(z.object({ channel: realtimeName("channel"), name: realtimeName("topic name"), kind: z.string().optional() }), {
    error: "expected an array of { channel, name } (one per topic)",
  })
  .min(1, { error: "at least one topic is required" })
  .max(100, { error: "at most 100 topics per token" });

/** `POST /v1/realtime/publish?channel=…&topic=…&run_id=…`. */
export const realtimePublishQuery = z.object({
  channel: realtimeName("channel"),
  topic: z.array(realtimeName("topic")).min(1, { error: "topic: at least one is required" }).max(100),
  run_id: z.string().max(256).optional(),
});
