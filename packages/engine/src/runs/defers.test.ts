import { OpCode } from "@stepwise/protocol";
import { describe, expect, it } from "vitest";
import { deferStepFromOp } from "./defers.ts";

describe("deferStepFromOp", () => {
  it("keeps a DeferAdd's event meta (both session layers) for the deferred run's event", () => {
    const meta = { sessions: { org: "override" }, propagated_sessions: { org: "acme", team: "core" } };
    const step = deferStepFromOp("r1", { id: "h1", op: OpCode.DeferAdd, userland: { id: "tell" }, opts: { fn_slug: "app-notify", input: { a: 1 }, meta } }, 5);
    expect(step).toMatchObject({ status: "Completed", name: "tell", input: { function: "app-notify", data: { a: 1 }, meta } });
  });

  it("records a DeferAdd with malformed meta as Failed, naming the field, so it starts nothing", () => {
    const step = deferStepFromOp(
      "r1",
      { id: "h1", op: OpCode.DeferAdd, userland: { id: "tell" }, opts: { fn_slug: "app-notify", input: {}, meta: { sessions: { org: [] } } } },
      5,
    );
    expect(step.status).toBe("Failed");
    expect(step.error?.message).toMatch(/defer\("tell"\)\.opts: "meta\.sessions\.org" must be/);
    expect((step.input as { meta?: unknown }).meta).toBeUndefined();
  });
});
