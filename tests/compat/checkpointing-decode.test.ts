/**
 * Decoding a checkpointing call's answer (inngest-protocol §10.2): a `206` that holds
 * `RunComplete` with other ops applies every op (steps through the call's checkpoint
 * callback) and never completes the run silently without the ones the engine cannot run.
 */
import type { Op } from "@stepwise/protocol";
import { decodeResponse } from "@stepwise/server";
import { describe, expect, it } from "vitest";

const sdk = { "content-type": "application/json", "x-inngest-sdk": "inngest-js:v4.24.0", "x-inngest-sdk-handled": "true" };
const reply = (ops: unknown[]) => new Response(JSON.stringify(ops), { status: 206, headers: sdk });
const step = (id: string, data: unknown): Op => ({ id, op: "StepRun", name: id, displayName: id, userland: { id }, data }) as Op;
const done = { id: "0737c22d3bfae812339732d14d8c7dbd6dc4e09c", op: "RunComplete", data: "result" };

describe("a 206 holding RunComplete", () => {
  // regression: [X, RunComplete] completed the run and dropped X
  it("persists the steps before it, in order, then completes", async () => {
    const applied: string[] = [];
    const result = await decodeResponse(reply([step("x", 1), step("y", 2), done]), "app", Date.now(), async (op) => {
      applied.push(`${op.id}=${JSON.stringify(op.data)}`);
    });
    expect(applied).toEqual(["x=1", "y=2"]);
    expect(result).toEqual({ type: "function-resolved", data: "result" });
  });

  it("alone, completes the run", async () => {
    expect(await decodeResponse(reply([done]), "app")).toEqual({ type: "function-resolved", data: "result" });
  });

  it("reports ops the engine cannot run (an unknown op) as a final error naming them", async () => {
    const applied: string[] = [];
    const future = { id: "d1", op: "FutureOp", userland: { id: "later" }, opts: {} };
    const result = await decodeResponse(reply([step("x", 1), future, done]), "app", Date.now(), async (op) => {
      applied.push(op.id);
    });
    expect(applied).toEqual(["x"]);
    expect(result).toMatchObject({ type: "function-rejected", retriable: false, error: { name: "UnsupportedStepError" } });
    expect(result.type === "function-rejected" && result.error.message).toMatch(/FutureOp \(step "later"\)/);
  });

  it("hands defers riding along the return (DeferAdd, DeferAbort) to the engine with the completion", async () => {
    const defer = { id: "d1", op: "DeferAdd", userland: { id: "later" }, opts: { fn_slug: "app-later", input: {} } };
    const abort = { id: "d2", op: "DeferAbort", userland: { id: "other" }, opts: { target_hashed_id: "d0" } };
    const result = await decodeResponse(reply([defer, abort, done]), "app");
    expect(result).toEqual({ type: "function-resolved", data: "result", deferred: [defer, abort] });
  });

  it("with steps but no way to persist them, fails rather than dropping them", async () => {
    const result = await decodeResponse(reply([step("x", 1), done]), "app");
    expect(result).toMatchObject({ type: "function-rejected", retriable: false });
    expect(result.type === "function-rejected" && result.error.message).toMatch(/StepRun \(step "x"\)/);
  });
});
