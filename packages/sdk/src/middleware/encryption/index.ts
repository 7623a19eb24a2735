/**
 * @module middleware/encryption
 * End-to-end encryption of the data Stepwise stores, interoperable with the official
 * `@inngest/middleware-encryption` (same keys, same wire form, either side can read
 * what the other wrote). See docs/middleware-encryption.md.
 *
 * What it encrypts, as the official middleware does:
 * - on send (`client.send`, `step.sendEvent`): the event data field named
 *   `eventEncryptionField` (default `"encrypted"`);
 * - the data of each step's outcome and the function's output, before they are stored
 *   (`null` and `undefined` stay as they are: they hold nothing);
 * and what it decrypts before the handler sees it: every encrypted top-level field of
 * `event.data` and of each of `events`, and what each step tool resolves with.
 *
 * Step results are decrypted where the handler receives them (the context's `step`
 * tools are wrapped), not in the memoized state: in-process, a step's result reaches the
 * handler in the same call as it ran, as stored, so only there does every result pass.
 * This is also where the official middleware decrypts (its `wrapStep`), so each value is
 * decrypted exactly once.
 */
import { StepwiseError, type StoredEvent } from "@stepwise/protocol";
import type { SendPayload } from "../../client.ts";
import { InngestMiddleware, type MiddlewareOptions } from "../middleware.ts";
import { Encryptor, type EncryptorOptions, isRecord } from "./envelope.ts";

export { AES_STRATEGY, AesEncryptionService } from "./aes.ts";
export {
  DEFAULT_EVENT_ENCRYPTION_FIELD,
  ENCRYPTION_MARKER,
  type EncryptedValue,
  Encryptor,
  type EncryptorOptions,
  isEncryptedValue,
  isV0EncryptedValue,
  type LegacyV0Options,
  STRATEGY_MARKER,
  type V0EncryptedValue,
} from "./envelope.ts";
export { LIBSODIUM_STRATEGY, LibsodiumEncryptionService } from "./libsodium.ts";
export { DecryptionError, EncryptionService } from "./strategy.ts";

/** Options of `encryptionMiddleware`: the official middleware's, with the same meaning. */
export interface EncryptionMiddlewareOptions extends EncryptorOptions {
  /**
   * The key that encrypts and decrypts. Any string: it is hashed (BLAKE2b-256) into the
   * secretbox key. Required unless `encryptionService` is given.
   */
  key?: string;
  /** Keys tried, in order, when `key` does not open a value: list old keys here while rotating. */
  fallbackDecryptionKeys?: string[];
  /**
   * Decrypt what arrives but encrypt nothing: deploy this everywhere before turning
   * encryption on, or while turning it off, so every worker can read every value.
   */
  decryptOnly?: boolean;
}

/** The middleware's name, in errors and logs. */
export const ENCRYPTION_MIDDLEWARE_NAME = "stepwise:encryption";

/**
 * Encrypts event fields on send, step results and function output before they are
 * stored, and decrypts them before the handler sees them. Bad options throw
 * `StepwiseError("invalid_config")` naming the field, here rather than at the first run.
 *
 * @example
 * const client = new Stepwise({
 *   id: "shop",
 *   middleware: [encryptionMiddleware({ key: process.env.ENCRYPTION_KEY, fallbackDecryptionKeys: [previousKey] })],
 * });
 * await client.send({ name: "user/signed-up", data: { encrypted: { email }, plan: "pro" } });
 */
export function encryptionMiddleware(options: EncryptionMiddlewareOptions): InngestMiddleware<MiddlewareOptions> {
  const encryptor = new Encryptor(options);
  const decryptOnly = options.decryptOnly === true;
  if (options.decryptOnly !== undefined && typeof options.decryptOnly !== "boolean") {
    throw new StepwiseError("invalid_config", `encryptionMiddleware: "decryptOnly" must be a boolean, received a ${typeof options.decryptOnly}`);
  }

  const decryptEvent = async <E extends StoredEvent>(event: E): Promise<E> =>
    isRecord(event?.data) ? { ...event, data: await encryptor.decryptEventData(event.data) } : event;
  const encryptPayload = async (payload: SendPayload): Promise<SendPayload> =>
    isRecord(payload?.data) ? { ...payload, data: await encryptor.encryptEventData(payload.data) } : payload;

  return new InngestMiddleware({
    name: ENCRYPTION_MIDDLEWARE_NAME,
    init: () => ({
      onFunctionRun: () => ({
        async transformInput({ ctx }) {
          const fields: Record<string, unknown> = {
            event: await decryptEvent(ctx.event),
            events: await Promise.all(ctx.events.map(decryptEvent)),
          };
          if (isRecord(ctx.step)) fields.step = decryptingStepTools(ctx.step, encryptor);
          return { ctx: fields };
        },
        async transformOutput({ result }) {
          if (decryptOnly || result.error !== undefined || result.data === undefined || result.data === null) return;
          return { result: { data: await encryptor.encryptValue(result.data) } };
        },
      }),
      onSendEvent: () => ({
        async transformInput({ payloads }) {
          if (decryptOnly) return;
          return { payloads: await Promise.all(payloads.map(encryptPayload)) };
        },
      }),
    }),
  });
}

/** The step tools, each resolving with its result decrypted (memoized or just run). */
function decryptingStepTools(tools: Record<string, unknown>, encryptor: Encryptor): Record<string, unknown> {
  const wrapped: Record<string, unknown> = {};
  for (const [name, tool] of Object.entries(tools)) {
    if (typeof tool !== "function") {
      wrapped[name] = tool;
      continue;
    }
    wrapped[name] = (...args: unknown[]) => {
      const out: unknown = tool.apply(tools, args);
      return isThenable(out) ? Promise.resolve(out).then((result) => encryptor.decryptValue(result)) : out;
    };
  }
  return wrapped;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}
