/**
 * @module encryption/strategy
 * What an encryption strategy is (the official middleware calls it an encryption
 * service), the error a failed decryption raises, and the checks on keys shared by the
 * strategies.
 */
import { StepwiseError } from "@stepwise/protocol";

/**
 * Turns any JSON value into an opaque string and back. `identifier` is written next to
 * every value it encrypts (`__STRATEGY__`), so a reader knows which strategy to ask.
 * Extend it (or pass any object of this shape) as `encryptionService` to replace the
 * default libsodium strategy; it is the official middleware's `EncryptionService`.
 */
export abstract class EncryptionService {
  /** Written into each encrypted value; the default strategy's is `"inngest/libsodium"`. */
  abstract readonly identifier: string;
  /** Encrypts a JSON value into a string. */
  abstract encrypt(value: unknown): string | Promise<string>;
  /** Decrypts a string made by `encrypt` (with any key this strategy knows) back into the value. */
  abstract decrypt(data: string): unknown | Promise<unknown>;

  /** Marks an encrypted value. */
  static readonly ENCRYPTION_MARKER = "__ENCRYPTED__";
  /** Names the strategy that encrypted a value. */
  static readonly STRATEGY_MARKER = "__STRATEGY__";
  /** The event data field encrypted by default. */
  static readonly DEFAULT_ENCRYPTED_EVENT_FIELD = "encrypted";
}

/**
 * A value could not be decrypted: none of the keys opened it, or it is not a ciphertext
 * of its strategy. `strategy` is the strategy's identifier, `keysTried` how many keys it
 * tried.
 */
export class DecryptionError extends Error {
  readonly strategy: string;
  readonly keysTried: number;

  constructor(strategy: string, keysTried: number, reason: string, options?: { cause?: unknown }) {
    super(
      `${strategy}: could not decrypt the value with any of ${keysTried} key${keysTried === 1 ? "" : "s"} (${reason}); check "key" and "fallbackDecryptionKeys"`,
      options,
    );
    this.name = "DecryptionError";
    this.strategy = strategy;
    this.keysTried = keysTried;
  }
}

/**
 * The keys in use, first the one that encrypts: each trimmed, empty ones dropped (as the
 * official middleware does). Throws `StepwiseError("invalid_config")` naming the field
 * when one is not a string, or when none is left.
 */
export function normalizeKeys(key: unknown, fallbackDecryptionKeys: unknown, where = "encryptionMiddleware"): string[] {
  if (typeof key !== "string") {
    throw new StepwiseError("invalid_config", `${where}: "key" must be a non-empty string, received ${describe(key)}`);
  }
  if (fallbackDecryptionKeys !== undefined && !Array.isArray(fallbackDecryptionKeys)) {
    throw new StepwiseError("invalid_config", `${where}: "fallbackDecryptionKeys" must be an array of strings, received ${describe(fallbackDecryptionKeys)}`);
  }
  const fallbacks = (fallbackDecryptionKeys ?? []) as unknown[];
  fallbacks.forEach((fallback, index) => {
    if (typeof fallback !== "string") {
      throw new StepwiseError("invalid_config", `${where}: "fallbackDecryptionKeys[${index}]" must be a string, received ${describe(fallback)}`);
    }
  });
  if (key.trim() === "") {
    throw new StepwiseError("invalid_config", `${where}: "key" must be a non-empty string, received ${describe(key)}`);
  }
  return [key, ...(fallbacks as string[])].map((k) => k.trim()).filter((k) => k !== "");
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return value.trim() === "" ? "an empty string" : "a string";
  return Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`;
}
