/**
 * @module ai-cost
 * `estimated_cost` of an AI call's step metadata (kind `inngest.ai`), as Inngest's server
 * derives it: USD from the model and the token counts the SDK reported, at the model
 * family's public list price per million tokens. An estimate: cached-input discounts,
 * batch pricing and price changes after the table's date are not in it. A model the table
 * does not know gets no `estimated_cost`.
 */

/** [model pattern, USD per million input tokens, per million output tokens], first match wins; list prices as of 2026. */
const listPrices: ReadonlyArray<readonly [RegExp, number, number]> = [
  // OpenAI (dated and point releases, e.g. gpt-5.4-nano-2026-03-17, match their family)
  [/^gpt-5(\.\d+)?-nano/, 0.05, 0.4],
  [/^gpt-5(\.\d+)?-mini/, 0.25, 2],
  [/^gpt-5(\.\d+)?(-|$)/, 1.25, 10],
  [/^gpt-4\.1-nano/, 0.1, 0.4],
  [/^gpt-4\.1-mini/, 0.4, 1.6],
  [/^gpt-4\.1(-|$)/, 2, 8],
  [/^gpt-4o-mini/, 0.15, 0.6],
  [/^gpt-4o(-|$)/, 2.5, 10],
  [/^o4-mini/, 1.1, 4.4],
  [/^o3(-|$)/, 2, 8],
  // Anthropic
  [/^claude-opus-4-[15]/, 5, 25],
  [/^claude-opus-4/, 15, 75],
  [/^claude-(sonnet-4|3-7-sonnet|3-5-sonnet)/, 3, 15],
  [/^claude-haiku-4/, 1, 5],
  [/^claude-3-5-haiku/, 0.8, 4],
  // Google
  [/^gemini-2\.5-pro/, 1.25, 10],
  [/^gemini-2\.5-flash-lite/, 0.1, 0.4],
  [/^gemini-2\.5-flash/, 0.3, 2.5],
  [/^gemini-2\.0-flash/, 0.1, 0.4],
];

/** The estimated USD cost of an `inngest.ai` metadata value set, or undefined (unknown model, no token counts). */
export function estimateAICost(values: Record<string, unknown>): number | undefined {
  const input = values.input_tokens;
  const output = values.output_tokens;
  if (typeof input !== "number" && typeof output !== "number") return undefined;
  for (const model of [values.response_model, values.request_model]) {
    if (typeof model !== "string") continue;
    const name = model.replace(/^(models\/|openai\/|anthropic\/|google\/)/, "");
    const price = listPrices.find(([pattern]) => pattern.test(name));
    if (!price) continue;
    const tokens = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? n : 0);
    return (tokens(input) * price[1] + tokens(output) * price[2]) / 1_000_000;
  }
  return undefined;
}
