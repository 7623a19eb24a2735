/**
 * @module ai-summary
 * What a `step.ai.infer` step (op `AIGateway`) shows: its model, the prompt (request
 * messages), the response text and the token counts, read from the stored request (the
 * step's redacted input) and the provider's response (its output), for OpenAI-compatible,
 * Anthropic and Gemini shapes.
 */

export interface AiMessage {
  role: string;
  text: string;
}

export interface AiSummary {
  model?: string;
  format?: string;
  prompt: AiMessage[];
  response: AiMessage[];
  tokens: { input?: number; output?: number; total?: number };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Text of a message's content: a string, or parts with `text`. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) =>
        typeof part === "string" ? part : isObj(part) && typeof part.text === "string" ? part.text : isObj(part) ? `[${String(part.type ?? "part")}]` : "",
      )
      .filter(Boolean)
      .join("\n");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

function promptOf(body: Obj): AiMessage[] {
  const prompt: AiMessage[] = [];
  if (body.system !== undefined) prompt.push({ role: "system", text: textOf(body.system) });
  if (isObj(body.systemInstruction)) prompt.push({ role: "system", text: textOf(body.systemInstruction.parts) });
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) if (isObj(m)) prompt.push({ role: String(m.role ?? "user"), text: textOf(m.content) });
  }
  if (Array.isArray(body.contents)) {
    for (const c of body.contents) if (isObj(c)) prompt.push({ role: String(c.role ?? "user"), text: textOf(c.parts) });
  }
  if (typeof body.input === "string") prompt.push({ role: "user", text: body.input });
  return prompt;
}

function responseOf(out: Obj): AiMessage[] {
  const response: AiMessage[] = [];
  if (Array.isArray(out.choices)) {
    for (const c of out.choices)
      if (isObj(c) && isObj(c.message)) response.push({ role: String(c.message.role ?? "assistant"), text: textOf(c.message.content) });
  }
  if (Array.isArray(out.content)) response.push({ role: String(out.role ?? "assistant"), text: textOf(out.content) });
  if (Array.isArray(out.candidates)) {
    for (const c of out.candidates) if (isObj(c) && isObj(c.content)) response.push({ role: String(c.content.role ?? "model"), text: textOf(c.content.parts) });
  }
  return response;
}

function tokensOf(out: Obj): AiSummary["tokens"] {
  if (isObj(out.usageMetadata)) {
    const u = out.usageMetadata;
    return { input: num(u.promptTokenCount), output: num(u.candidatesTokenCount), total: num(u.totalTokenCount) };
  }
  if (!isObj(out.usage)) return {};
  const u = out.usage;
  const input = num(u.prompt_tokens) ?? num(u.input_tokens);
  const output = num(u.completion_tokens) ?? num(u.output_tokens);
  const total = num(u.total_tokens) ?? (input !== undefined && output !== undefined ? input + output : undefined);
  return { input, output, total };
}

/** The summary of an AI step, or undefined for any other step. */
export function aiSummary(step: { op: string; input: unknown; output: unknown }): AiSummary | undefined {
  if (step.op !== "AIGateway") return undefined;
  const input = isObj(step.input) ? step.input : {};
  const body = isObj(input.body) ? input.body : {};
  const out = isObj(step.output) ? step.output : {};
  const model =
    (typeof input.model === "string" && input.model) ||
    (typeof body.model === "string" && body.model) ||
    (typeof out.model === "string" && out.model) ||
    (typeof out.modelVersion === "string" && out.modelVersion) ||
    undefined;
  return {
    ...(model ? { model } : {}),
    ...(typeof input.format === "string" ? { format: input.format } : {}),
    prompt: promptOf(body),
    response: responseOf(out),
    tokens: tokensOf(out),
  };
}
