/**
 * @module meta
 * Event `meta` (sessions) and metadata (step and run metadata, scores), as the Inngest
 * SDK v4 writes them.
 *
 * Sessions. An event's `meta.sessions` names the sessions it belongs to (`{ chat: "c1" }`);
 * `meta.propagated_sessions` is the layer an SDK stamps on events sent from inside a run
 * (the run's `ctx.sessions`). The sessions an event is in are both layers merged, the
 * manual one winning per key; in the manual layer a `null` value cuts one inherited
 * session and `sessions: null` cuts them all. A run's sessions are the sessions every one
 * of its triggering events shares (same key, same id). At most {@link maxEventSessions}
 * per event.
 *
 * Metadata. A metadata update is `{ kind, op, values }` (`op` "set" replaces the values of
 * that kind, "merge" merges them in key by key); ops carry them in `metadata` with a
 * `scope` ("run" ones apply to the run, the others stay with the step), and
 * `POST /v1/runs/:id/metadata` carries them for a run or one of its steps. Scores are the
 * kind `inngest.score`: `{ [name]: { value } }`.
 */
import { StepwiseError } from "./errors.ts";

/** An event's `meta`. Other fields are kept as sent. */
export interface EventMeta {
  /** The sessions the event is in: key → id. A `null` id (or `sessions: null`) cuts inherited sessions. */
  sessions?: Record<string, string | number | null> | null;
  /** The sessions of the run that sent the event, stamped by the SDK. */
  propagated_sessions?: Record<string, string | number>;
  [key: string]: unknown;
}

/** Bytes of JSON one metadata write may hold (all its updates). */
export const maxMetadataBytes = 256 * 1024;

/** Sessions per event, at most (Inngest's `MaxEventSessions`). */
export const maxEventSessions = 5;

/** The metadata kind scores are written under. */
export const scoreKind = "inngest.score";

export type MetadataOp = "set" | "merge";

/** One metadata update. */
export interface MetadataUpdate {
  kind: string;
  op: MetadataOp;
  values: Record<string, unknown>;
}

/** A metadata update carried by an op: `scope` "run" applies to the run, others stay with the step. */
export interface OpMetadata extends MetadataUpdate {
  scope?: string;
}

/** Where a `POST /v1/runs/:id/metadata` update goes (Inngest's `MetadataTarget`). */
export interface MetadataTarget {
  run_id: string;
  step_id?: string;
  step_index?: number;
  step_attempt?: number;
  span_id?: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkSessions(value: unknown, field: string, allowCut: boolean, fail: (message: string) => never): void {
  if (value === undefined) return;
  if (value === null) {
    if (allowCut) return;
    fail(`"${field}" must be an object of session ids, received null`);
  }
  if (!isPlainObject(value)) fail(`"${field}" must be an object of session ids`);
  let count = 0;
  for (const [key, id] of Object.entries(value as Record<string, unknown>)) {
    if (key === "") fail(`"${field}" has an empty session key`);
    if (id === null) {
      if (!allowCut) fail(`"${field}.${key}" must be a string or a number`);
      continue;
    }
    if (typeof id === "number") {
      if (!Number.isFinite(id)) fail(`"${field}.${key}" must be a finite number`);
    } else if (typeof id !== "string" || id === "") {
      fail(`"${field}.${key}" must be a non-empty string or a number`);
    }
    count++;
  }
  if (count > maxEventSessions) fail(`"${field}" has ${count} sessions; the limit is ${maxEventSessions}`);
}

/**
 * Checks an event's `meta` (named `where`), throwing `invalid_event` naming the field.
 * Returns it unchanged (JSON-checked by the caller), or undefined when absent.
 */
export function validateEventMeta(meta: unknown, where: string): EventMeta | undefined {
  const fail = (message: string): never => {
    throw new StepwiseError("invalid_event", `${where}: ${message}`);
  };
  if (meta === undefined || meta === null) return undefined;
  if (!isPlainObject(meta)) fail(`"meta" must be an object`);
  const m = meta as Record<string, unknown>;
  checkSessions(m.sessions, "meta.sessions", true, fail);
  checkSessions(m.propagated_sessions, "meta.propagated_sessions", false, fail);
  return m as EventMeta;
}

/** Compares by UTF-8 bytes (the order Inngest's server truncates sessions in). */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The sessions an event is in: its propagated sessions with its own layered over them
 * (a `null` cuts one, `sessions: null` cuts all inherited), ids as strings, at most
 * {@link maxEventSessions} (its own first, then inherited ones in UTF-8 key order).
 */
export function eventSessions(meta: EventMeta | undefined): Record<string, string> {
  if (!meta) return {};
  const own = new Map<string, string>();
  const cut = new Set<string>();
  if (isPlainObject(meta.sessions)) {
    for (const [key, id] of Object.entries(meta.sessions)) {
      if (id === null || id === undefined) cut.add(key);
      else if (key) own.set(key, String(id));
    }
  }
  const inherited: Array<[string, string]> = [];
  if (meta.sessions !== null && isPlainObject(meta.propagated_sessions)) {
    for (const [key, id] of Object.entries(meta.propagated_sessions)) {
      if (key && id !== null && id !== undefined && !own.has(key) && !cut.has(key)) inherited.push([key, String(id)]);
    }
  }
  inherited.sort(([a], [b]) => compareUtf8(a, b));
  return Object.fromEntries([...own, ...inherited].slice(0, maxEventSessions));
}

/** A run's sessions: those all its triggering events share (same key and id), in UTF-8 key order. */
export function runSessions(events: ReadonlyArray<{ meta?: EventMeta }>): Record<string, string> {
  let shared: Map<string, string> | undefined;
  for (const event of events) {
    const own = eventSessions(event.meta);
    if (!shared) shared = new Map(Object.entries(own));
    else for (const [key, id] of shared) if (own[key] !== id) shared.delete(key);
    if (shared.size === 0) break;
  }
  if (!shared) return {};
  return Object.fromEntries([...shared].sort(([a], [b]) => compareUtf8(a, b)));
}

/**
 * The event as a function sees it: `meta.sessions` holds the sessions it is in (both
 * layers merged, so `propagated_sessions` is left out), so an SDK that reads
 * `event.meta.sessions` finds inherited ones too. Events without `meta` are returned as
 * they are.
 */
export function eventForFunction<E extends { meta?: EventMeta }>(event: E): E {
  if (!event.meta) return event;
  const sessions = eventSessions(event.meta);
  const { sessions: _own, propagated_sessions: _inherited, ...rest } = event.meta;
  return { ...event, meta: Object.keys(sessions).length ? { ...rest, sessions } : rest };
}

/** Stamps `sessions` as `meta.propagated_sessions` on an event sent from a run (unless it has that layer already). */
export function stampSessions<E extends { meta?: EventMeta }>(event: E, sessions: Record<string, string> | undefined): E {
  if (!sessions || Object.keys(sessions).length === 0 || event.meta?.propagated_sessions !== undefined) return event;
  return { ...event, meta: { ...event.meta, propagated_sessions: { ...sessions } } };
}

/**
 * Checks a list of metadata updates (`field` names it, e.g. "metadata"), throwing
 * `invalid_argument` naming the first bad field.
 */
export function validateMetadataUpdates(input: unknown, field: string): MetadataUpdate[] {
  const fail = (message: string): never => {
    throw new StepwiseError("invalid_argument", message);
  };
  if (!Array.isArray(input)) fail(`"${field}" must be an array of { kind, op, values }`);
  const list = input as unknown[];
  if (list.length === 0) fail(`"${field}" must hold at least one update`);
  if (list.length > 100) fail(`"${field}" has ${list.length} updates; the limit is 100`);
  const checked = list.map((u, i) => {
    const at = `${field}[${i}]`;
    if (!isPlainObject(u)) fail(`"${at}" must be an object { kind, op, values }`);
    const update = u as Record<string, unknown>;
    if (typeof update.kind !== "string" || update.kind.trim() === "") fail(`"${at}.kind" must be a non-empty string`);
    if (update.op !== "set" && update.op !== "merge") fail(`"${at}.op" must be "set" or "merge"`);
    if (!isPlainObject(update.values)) fail(`"${at}.values" must be an object`);
    if ((update.kind as string) === scoreKind) {
      for (const [name, score] of Object.entries(update.values as Record<string, unknown>)) {
        const value = isPlainObject(score) ? score.value : undefined;
        if (typeof value !== "boolean" && !(typeof value === "number" && Number.isFinite(value))) {
          fail(`"${at}.values.${name}.value" must be a finite number or a boolean`);
        }
      }
    }
    return { kind: update.kind as string, op: update.op as MetadataOp, values: update.values as Record<string, unknown> };
  });
  const size = Buffer.byteLength(JSON.stringify(checked));
  if (size > maxMetadataBytes) throw new StepwiseError("limit_exceeded", `"${field}" is ${size} bytes of JSON; the limit is ${maxMetadataBytes}`);
  return checked;
}

/** Applies one update to a kind's values: "set" replaces, "merge" merges key by key. */
export function applyMetadata(current: Record<string, unknown> | undefined, update: MetadataUpdate): Record<string, unknown> {
  return update.op === "merge" ? { ...(current ?? {}), ...update.values } : { ...update.values };
}
