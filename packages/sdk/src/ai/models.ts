/**
 * @module models
 * Model helpers for `step.ai.infer`: each describes where the engine sends the request
 * (`url`), how it authenticates (`authKey`, sent by the engine in the provider's header,
 * never in the URL), the request `format`, extra `headers`, and defaults it adds to the
 * body (`onCall`). The shapes follow the official SDK's `openai()`, `anthropic()` and
 * `gemini()`.
 */

/** A model as `step.ai.infer` takes it. */
export interface AiModel {
  url: string;
  authKey: string;
  /** `"openai-chat"`, `"anthropic"`, `"gemini"`, `"azure-openai"`, … */
  format: string;
  headers?: Record<string, string>;
  /** Adds the model's defaults to the request body (called once per `step.ai.infer`). */
  onCall?(model: AiModel, body: Record<string, unknown>): void;
  options?: unknown;
}

export interface ModelOptions {
  /** The model's name (`"gpt-4o"`, `"claude-sonnet-4-5"`, `"gemini-2.0-flash"`). */
  model: string;
  /** The provider key; default from the provider's environment variable. */
  apiKey?: string;
  /** The API's base URL (e.g. an OpenAI-compatible server). */
  baseUrl?: string;
  /** Merged into every request body. */
  defaultParameters?: Record<string, unknown>;
}

function env(name: string): string | undefined {
  return typeof process !== "undefined" ? process.env[name] : undefined;
}

function base(url: string | undefined, fallback: string): string {
  const b = url || fallback;
  return b.endsWith("/") ? b : `${b}/`;
}

function withDefaults(options: ModelOptions, setModel: boolean) {
  return (_: AiModel, body: Record<string, unknown>) => {
    Object.assign(body, options.defaultParameters);
    if (setModel && !body.model) body.model = options.model;
  };
}

/** OpenAI's Chat Completions, or any OpenAI-compatible server (`baseUrl`). Key: `apiKey` or `OPENAI_API_KEY`. */
export function openai(options: ModelOptions): AiModel {
  return {
    url: new URL("chat/completions", base(options.baseUrl, "https://api.openai.com/v1/")).href,
    authKey: options.apiKey || env("OPENAI_API_KEY") || "",
    format: "openai-chat",
    onCall: withDefaults(options, true),
    options,
  };
}

export interface AnthropicOptions extends ModelOptions {
  /** Sent as `anthropic-beta`. */
  betaHeaders?: string[];
}

/** Anthropic's Messages API. Key: `apiKey` or `ANTHROPIC_API_KEY` (sent as `x-api-key`). */
export function anthropic(options: AnthropicOptions): AiModel {
  const headers: Record<string, string> = { "anthropic-version": "2023-06-01" };
  if (options.betaHeaders?.length) headers["anthropic-beta"] = options.betaHeaders.join(",");
  return {
    url: new URL("messages", base(options.baseUrl, "https://api.anthropic.com/v1/")).href,
    authKey: options.apiKey || env("ANTHROPIC_API_KEY") || "",
    format: "anthropic",
    headers,
    onCall: withDefaults(options, true),
    options,
  };
}

/**
 * Google's Gemini `generateContent`. Key: `apiKey` or `GEMINI_API_KEY`, sent as
 * `x-goog-api-key` (the official SDK puts it in the URL's `?key=`; this one never does).
 */
export function gemini(options: ModelOptions): AiModel {
  const defaults = options.defaultParameters;
  return {
    url: new URL(`models/${encodeURIComponent(options.model)}:generateContent`, base(options.baseUrl, "https://generativelanguage.googleapis.com/v1beta/"))
      .href,
    authKey: options.apiKey || env("GEMINI_API_KEY") || "",
    format: "gemini",
    headers: {},
    onCall(_, body) {
      if (!defaults) return;
      const { generationConfig, ...others } = defaults as { generationConfig?: Record<string, unknown> };
      Object.assign(body, { ...others, ...body });
      if (generationConfig) {
        const given = (body.generationConfig ?? {}) as Record<string, unknown>;
        body.generationConfig = {
          ...generationConfig,
          ...given,
          thinkingConfig: { ...(generationConfig.thinkingConfig as object), ...((given.thinkingConfig as object) ?? {}) },
        };
      }
    },
    options,
  };
}

export const models = { openai, anthropic, gemini };
