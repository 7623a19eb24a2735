/** The dashboard's reading of AI steps: model, prompt, response, tokens per provider shape. */
import { describe, expect, it } from "vitest";
import { aiSummary } from "../../packages/dashboard/src/components/ai-summary.ts";

describe("aiSummary", () => {
  it("reads a Gemini request and response", () => {
    const summary = aiSummary({
      op: "AIGateway",
      input: {
        url: "http://x/v1beta/models/gemini-2.0-flash:generateContent?key=%5Bredacted%5D",
        format: "gemini",
        model: "gemini-2.0-flash",
        body: { systemInstruction: { parts: [{ text: "Be kind." }] }, contents: [{ role: "user", parts: [{ text: "hey" }] }] },
      },
      output: {
        candidates: [{ content: { role: "model", parts: [{ text: "hello!" }] } }],
        usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 },
      },
    });
    expect(summary).toEqual({
      model: "gemini-2.0-flash",
      format: "gemini",
      prompt: [
        { role: "system", text: "Be kind." },
        { role: "user", text: "hey" },
      ],
      response: [{ role: "model", text: "hello!" }],
      tokens: { input: 9, output: 4, total: 13 },
    });
  });

  it("adds Anthropic's input and output tokens for a total, and reads content parts", () => {
    const summary = aiSummary({
      op: "AIGateway",
      input: { format: "anthropic", body: { model: "claude-x", messages: [{ role: "user", content: [{ type: "text", text: "hi" }, { type: "image" }] }] } },
      output: { role: "assistant", content: [{ type: "text", text: "yo" }], usage: { input_tokens: 3, output_tokens: 2 } },
    });
    expect(summary?.model).toBe("claude-x");
    expect(summary?.prompt).toEqual([{ role: "user", text: "hi\n[image]" }]);
    expect(summary?.response).toEqual([{ role: "assistant", text: "yo" }]);
    expect(summary?.tokens).toEqual({ input: 3, output: 2, total: 5 });
  });

  it("is undefined for other steps", () => {
    expect(aiSummary({ op: "StepRun", input: null, output: { usage: { prompt_tokens: 1 } } })).toBeUndefined();
  });
});
