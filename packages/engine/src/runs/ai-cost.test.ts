import { describe, expect, it } from "vitest";
import { estimateAICost } from "./ai-cost.ts";
import { foldRunMetadata } from "./metadata.ts";

describe("estimateAICost", () => {
  it("prices a dated point release at its family's list price per million tokens", () => {
    // gpt-5 nano: $0.05 in, $0.40 out per million
    expect(estimateAICost({ request_model: "gpt-5.4-nano", response_model: "gpt-5.4-nano-2026-03-17", input_tokens: 18, output_tokens: 39 })).toBeCloseTo(
      (18 * 0.05 + 39 * 0.4) / 1e6,
      15,
    );
    expect(estimateAICost({ request_model: "claude-sonnet-4-20250514", input_tokens: 1_000_000, output_tokens: 0 })).toBe(3);
    expect(estimateAICost({ request_model: "models/gemini-2.5-flash", output_tokens: 1_000_000 })).toBe(2.5);
  });

  it("gives none for a model it does not know or a call without token counts", () => {
    expect(estimateAICost({ request_model: "my-local-llama", input_tokens: 10, output_tokens: 10 })).toBeUndefined();
    expect(estimateAICost({ request_model: "gpt-4o" })).toBeUndefined();
  });

  it("is added to a step's inngest.ai metadata when read, never over a value the SDK sent", () => {
    const step = (id: string, values: Record<string, unknown>) => ({
      runId: "r",
      id,
      name: id,
      op: "StepRun",
      status: "Completed",
      attempts: 1,
      output: null,
      startedAt: 1,
      endedAt: 2,
      metadata: [{ kind: "inngest.ai", scope: "step", op: "merge", values }],
    });
    const folded = foldRunMetadata(
      [
        step("a", { request_model: "gpt-4o-mini", input_tokens: 1_000_000, output_tokens: 1_000_000 }),
        step("b", { request_model: "gpt-4o", estimated_cost: 7 }),
      ] as never,
      [],
    );
    expect(folded.steps.a?.["inngest.ai"]?.estimated_cost).toBeCloseTo(0.75, 10);
    expect(folded.steps.b?.["inngest.ai"]?.estimated_cost).toBe(7);
  });
});
