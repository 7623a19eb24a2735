import { describe, expect, it } from "vitest";
import { validateEvent } from "./event.ts";
import { type EventMeta, eventForFunction, eventSessions, runSessions, stampSessions, validateMetadataUpdates } from "./meta.ts";

const ev = (meta?: EventMeta): { name: string; meta?: EventMeta } => (meta ? { name: "a", meta } : { name: "a" });

describe("event meta and sessions", () => {
  it("keeps meta exactly as sent, and refuses bad meta naming the field", () => {
    const meta = { sessions: { chat: "c1", n: 3, gone: null }, propagated_sessions: { org: "o" }, other: { x: [1] } };
    expect(validateEvent({ name: "a", meta }).meta).toEqual(meta);
    expect(validateEvent({ name: "a" })).not.toHaveProperty("meta");
    expect(validateEvent({ name: "a", meta: null })).not.toHaveProperty("meta");
    expect(() => validateEvent({ name: "a", meta: 1 }, "events[2]")).toThrow('events[2]: "meta" must be an object');
    expect(() => validateEvent({ name: "a", meta: { sessions: { "": "x" } } })).toThrow('"meta.sessions" has an empty session key');
    expect(() => validateEvent({ name: "a", meta: { sessions: { k: "" } } })).toThrow('"meta.sessions.k" must be a non-empty string or a number');
    expect(() => validateEvent({ name: "a", meta: { sessions: [] } })).toThrow('"meta.sessions" must be an object');
    expect(() => validateEvent({ name: "a", meta: { propagated_sessions: null } })).toThrow('"meta.propagated_sessions" must be an object');
    const six = Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((k) => [k, k]));
    expect(() => validateEvent({ name: "a", meta: { sessions: six } })).toThrow("the limit is 5");
    // tombstones do not count against the limit
    expect(validateEvent({ name: "a", meta: { sessions: { ...Object.fromEntries(Object.entries(six).slice(0, 5)), f: null } } }).meta).toBeDefined();
  });

  it("merges the layers: own wins per key, null cuts one, sessions: null cuts all, at most 5", () => {
    expect(eventSessions(undefined)).toEqual({});
    expect(eventSessions({ sessions: { a: "1", n: 2 } })).toEqual({ a: "1", n: "2" });
    expect(eventSessions({ sessions: { a: "own", b: null }, propagated_sessions: { a: "inh", b: "inh", c: "inh" } })).toEqual({ a: "own", c: "inh" });
    expect(eventSessions({ sessions: null, propagated_sessions: { a: "1" } })).toEqual({});
    const merged = eventSessions({ sessions: { z: "1", y: "2" }, propagated_sessions: { a: "1", b: "1", c: "1", d: "1" } });
    expect(Object.keys(merged)).toEqual(["z", "y", "a", "b", "c"]);
  });

  it("a run's sessions are those all its events share", () => {
    expect(runSessions([{ meta: { sessions: { a: "1", b: "2" } } }, { meta: { sessions: { a: "1", b: "3" } } }])).toEqual({ a: "1" });
    expect(runSessions([{ meta: { sessions: { a: "1" } } }, {}])).toEqual({});
    expect(runSessions([])).toEqual({});
  });

  it("delivers merged sessions to functions, and stamps inherited ones unless present", () => {
    const event = { name: "a", meta: { sessions: { a: null }, propagated_sessions: { a: "1", b: "2" }, x: 1 } };
    expect(eventForFunction(event).meta).toEqual({ sessions: { b: "2" }, x: 1 });
    expect(eventForFunction(ev())).toEqual({ name: "a" });
    expect(stampSessions(ev(), { s: "1" })).toEqual({ name: "a", meta: { propagated_sessions: { s: "1" } } });
    expect(stampSessions(ev({ propagated_sessions: { s: "0" } }), { s: "1" }).meta?.propagated_sessions).toEqual({ s: "0" });
    expect(stampSessions(ev(), {})).toEqual({ name: "a" });
  });
});

describe("metadata updates", () => {
  it("accepts { kind, op, values } and names the first bad field", () => {
    const ok = [{ kind: "inngest.score", op: "merge", values: { q: { value: 1 } } }];
    expect(validateMetadataUpdates(ok, "metadata")).toEqual(ok);
    expect(() => validateMetadataUpdates({}, "metadata")).toThrow('"metadata" must be an array');
    expect(() => validateMetadataUpdates([], "metadata")).toThrow("at least one");
    expect(() => validateMetadataUpdates([{ kind: "k", op: "add", values: {} }], "metadata")).toThrow('"metadata[0].op"');
    expect(() => validateMetadataUpdates([{ kind: 1, op: "set", values: {} }], "metadata")).toThrow('"metadata[0].kind"');
    expect(() => validateMetadataUpdates([{ kind: "k", op: "set", values: null }], "metadata")).toThrow('"metadata[0].values"');
    expect(() => validateMetadataUpdates([{ kind: "inngest.score", op: "merge", values: { q: 1 } }], "metadata")).toThrow('"metadata[0].values.q.value"');
    expect(() => validateMetadataUpdates([{ kind: "k", op: "set", values: { big: "x".repeat(300_000) } }], "metadata")).toThrow(/limit is 262144/);
  });
});
