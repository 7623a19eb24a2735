/**
 * @module wire-config
 * Function configs as an app registers them (`POST /fn/register`, inngest-protocol §5.2)
 * ↔ the engine's `FunctionConfig`. `fromWire` validates: a bad config is an error naming
 * the function and the field.
 */
import { type FunctionConfig, StepwiseError, type Trigger, validateFunctionConfig } from "@stepwise/protocol";

export interface WireFunction {
  id: string;
  name?: string;
  triggers?: Array<{ event: string; expression?: string } | { cron: string; jitter?: string }>;
  steps?: Record<string, { id?: string; name?: string; runtime?: { type?: string; url?: string }; retries?: { attempts?: number } }>;
  idempotency?: string;
  batchEvents?: FunctionConfig["batchEvents"];
  rateLimit?: FunctionConfig["rateLimit"];
  throttle?: FunctionConfig["throttle"];
  concurrency?: FunctionConfig["concurrency"];
  debounce?: FunctionConfig["debounce"];
  priority?: FunctionConfig["priority"];
  timeouts?: { start?: string; finish?: string };
  singleton?: FunctionConfig["singleton"];
  cancel?: Array<{ event: string; if?: string; timeout?: string }>;
  /** Stepwise extension (`FunctionConfig.retention`); other SDKs omit it. */
  retention?: FunctionConfig["retention"];
}

export interface ResolvedWireFunction {
  config: FunctionConfig;
  /** Where to call it (`…?fnId=<id>&stepId=step`). */
  url: string;
}

/** Converts one registered function; `appName` strips the composite prefix for the slug. */
export function fromWire(wire: WireFunction, appName: string): ResolvedWireFunction {
  if (!wire || typeof wire.id !== "string" || wire.id === "") {
    throw new StepwiseError("invalid_config", `functions: every function needs a string "id", received ${JSON.stringify(wire?.id)}`);
  }
  const fail = (field: string, message: string): never => {
    throw new StepwiseError("invalid_config", `function "${wire.id}": ${field}: ${message}`);
  };
  const step = wire.steps?.step ?? Object.values(wire.steps ?? {})[0];
  const url = step?.runtime?.url;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) fail("steps.step.runtime.url", `expected an http(s) URL, received ${JSON.stringify(url)}`);
  const triggers: Trigger[] = (wire.triggers ?? []).map((t, i) => {
    if (t && "event" in t) return t.expression ? { event: t.event, if: t.expression } : { event: t.event };
    if (t && "cron" in t) return { cron: t.cron };
    return fail(`triggers[${i}]`, `expected { event } or { cron }, received ${JSON.stringify(t)}`);
  });
  const prefix = `${appName}-`;
  const config: FunctionConfig = {
    id: wire.id,
    slug: wire.id.startsWith(prefix) ? wire.id.slice(prefix.length) : wire.id,
    appId: appName,
    name: wire.name ?? wire.id,
    triggers,
    retries: step?.retries?.attempts ?? 4,
  };
  const copy = ["idempotency", "batchEvents", "rateLimit", "throttle", "concurrency", "debounce", "priority", "timeouts", "singleton", "retention"] as const;
  for (const key of copy) if (wire[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = wire[key];
  if (wire.cancel) config.cancelOn = wire.cancel.map((c) => ({ event: c.event, ...(c.if ? { if: c.if } : {}), ...(c.timeout ? { timeout: c.timeout } : {}) }));
  // the wire id keeps characters the SDK allows in slugs; validate the rest of the config
  validateFunctionConfig({ ...config, slug: config.slug.replace(/[^A-Za-z0-9_.:-]/g, "-") || "fn" });
  return { config, url: url as string };
}
