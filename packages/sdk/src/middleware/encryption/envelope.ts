/**
 * @module encryption/envelope
 * The wire form of an encrypted value, shared with the official
 * `@inngest/middleware-encryption`, and the `Encryptor` that applies it to values and
 * to event data.
 *
 * An encrypted value is a JSON object:
 *   `{ "__ENCRYPTED__": true, "__STRATEGY__": "inngest/libsodium", "data": "<base64>" }`
 * A v0 value (the official middleware before libsodium) has no `__STRATEGY__` and is
 * read with the legacy AES strategy. A value is read with the strategy it names when that
 * is the configured one or a built-in one (given keys), else with the configured one.
 *
 * In event data only the top-level field named by `eventEncryptionField` (default
 * `"encrypted"`) is encrypted, as a whole; on the way in every top-level field that is
 * an encrypted value is decrypted, whatever its name.
 */
import { StepwiseError } from "@stepwise/protocol";
import { AES_STRATEGY, AesEncryptionService } from "./aes.ts";
import { LIBSODIUM_STRATEGY, LibsodiumEncryptionService } from "./libsodium.ts";
import { EncryptionService, normalizeKeys } from "./strategy.ts";

/** Marks an encrypted value. */
export const ENCRYPTION_MARKER = EncryptionService.ENCRYPTION_MARKER;
/** Names the strategy that encrypted a value. */
export const STRATEGY_MARKER = EncryptionService.STRATEGY_MARKER;
/** The event data field encrypted by default. */
export const DEFAULT_EVENT_ENCRYPTION_FIELD = EncryptionService.DEFAULT_ENCRYPTED_EVENT_FIELD;

/** An encrypted value as stored and sent. */
export interface EncryptedValue {
  [ENCRYPTION_MARKER]: true;
  [STRATEGY_MARKER]: string;
  data: string;
}

/** A value encrypted by the official middleware's first version: AES, no strategy marker. */
export interface V0EncryptedValue {
  [ENCRYPTION_MARKER]: true;
  data: string;
}

/** True for `{ __ENCRYPTED__: true, __STRATEGY__: string, data: string }`. */
export function isEncryptedValue(value: unknown): value is EncryptedValue {
  return isMarked(value) && typeof (value as Record<string, unknown>)[STRATEGY_MARKER] === "string";
}

/** True for `{ __ENCRYPTED__: true, data: string }` without a strategy marker. */
export function isV0EncryptedValue(value: unknown): value is V0EncryptedValue {
  return isMarked(value) && !(STRATEGY_MARKER in (value as object));
}

function isMarked(value: unknown): boolean {
  if (!isRecord(value)) return false;
  return value[ENCRYPTION_MARKER] === true && typeof value.data === "string";
}

/** A plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Options of the legacy (v0, AES) mode, as in the official middleware. */
export interface LegacyV0Options {
  /** Encrypt with the legacy AES strategy, writing v0 values (no `__STRATEGY__`). */
  forceEncryptWithV0?: boolean;
  /** Which event data fields v0 mode encrypts: a name, a list of names, or a predicate. (Default: `"encrypted"`.) */
  eventEncryptionField?: string | string[] | ((field: string) => boolean);
}

/** What the encryptor needs: the keys or a strategy, and which event field to encrypt. */
export interface EncryptorOptions {
  /** The key that encrypts (and decrypts). Required unless `encryptionService` is given. */
  key?: string;
  /** Older keys tried, in order, when `key` does not decrypt a value. Never used to encrypt. */
  fallbackDecryptionKeys?: string[];
  /** Replaces the default libsodium strategy. */
  encryptionService?: EncryptionService;
  /** The top-level event data field to encrypt. (Default: `"encrypted"`.) */
  eventEncryptionField?: string;
  /** Legacy v0 (AES) encryption, for moving off it. */
  legacyV0Service?: LegacyV0Options;
}

/**
 * Encrypts and decrypts values and event data. Throws
 * `StepwiseError("invalid_config")` naming the field when an option is invalid.
 *
 * @example
 * const encryptor = new Encryptor({ key: process.env.ENCRYPTION_KEY });
 * const data = await encryptor.encryptEventData({ encrypted: { ssn: "…" }, plain: 1 });
 */
export class Encryptor {
  private readonly service: EncryptionService;
  private readonly keys: string[];
  private readonly eventField: string;
  private readonly legacy: LegacyV0Options;
  private aes: AesEncryptionService | undefined;
  private sodium: LibsodiumEncryptionService | undefined;

  constructor(options: EncryptorOptions, where = "encryptionMiddleware") {
    if (!isRecord(options)) throw new StepwiseError("invalid_config", `${where}: options must be an object with a "key"`);
    const custom = options.encryptionService;
    if (custom !== undefined && !isService(custom)) {
      throw new StepwiseError("invalid_config", `${where}: "encryptionService" must have a string "identifier" and "encrypt" and "decrypt" functions`);
    }
    // With a custom strategy the key is optional (it then only serves the built-in strategies).
    const noKey = options.key === undefined || (typeof options.key === "string" && options.key.trim() === "");
    this.keys = custom !== undefined && noKey ? [] : normalizeKeys(options.key, options.fallbackDecryptionKeys, where);
    this.service = custom ?? new LibsodiumEncryptionService(this.keys);
    const field = options.eventEncryptionField ?? DEFAULT_EVENT_ENCRYPTION_FIELD;
    if (typeof field !== "string" || field === "") {
      throw new StepwiseError("invalid_config", `${where}: "eventEncryptionField" must be a non-empty string`);
    }
    this.eventField = field;
    const legacy = options.legacyV0Service ?? {};
    if (!isRecord(legacy)) throw new StepwiseError("invalid_config", `${where}: "legacyV0Service" must be an object`);
    const legacyField = legacy.eventEncryptionField;
    if (legacyField !== undefined && typeof legacyField !== "string" && typeof legacyField !== "function" && !Array.isArray(legacyField)) {
      throw new StepwiseError("invalid_config", `${where}: "legacyV0Service.eventEncryptionField" must be a string, an array of strings or a function`);
    }
    this.legacy = legacy;
    if (legacy.forceEncryptWithV0) this.legacyService(where);
  }

  /** The identifier of the strategy that encrypts (v0 mode writes values without one). */
  get identifier(): string {
    return this.service.identifier;
  }

  /** Wraps a value in an encrypted envelope. */
  async encryptValue(value: unknown): Promise<EncryptedValue | V0EncryptedValue> {
    if (this.legacy.forceEncryptWithV0) {
      return { [ENCRYPTION_MARKER]: true, data: this.legacyService().encrypt(value) };
    }
    return { [ENCRYPTION_MARKER]: true, [STRATEGY_MARKER]: this.service.identifier, data: await this.service.encrypt(value) };
  }

  /** The plain value of an envelope; any other value is returned as it is. */
  async decryptValue(value: unknown): Promise<unknown> {
    if (isEncryptedValue(value)) {
      const strategy = value[STRATEGY_MARKER];
      if (strategy === this.service.identifier || this.keys.length === 0) return this.service.decrypt(value.data);
      // Values of the built-in strategies stay readable with the keys after switching to a custom one.
      if (strategy === AES_STRATEGY) return this.legacyService().decrypt(value.data);
      if (strategy === LIBSODIUM_STRATEGY) {
        this.sodium ??= new LibsodiumEncryptionService(this.keys);
        return this.sodium.decrypt(value.data);
      }
      return this.service.decrypt(value.data);
    }
    if (isV0EncryptedValue(value)) return this.legacyService().decrypt(value.data);
    return value;
  }

  /** Event data with the encryption field encrypted; other fields untouched. */
  async encryptEventData(data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(data)) {
      out[field] = value !== undefined && this.shouldEncrypt(field) ? await this.encryptValue(value) : value;
    }
    return out;
  }

  /** Event data with every encrypted top-level field decrypted. */
  async decryptEventData(data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(data)) out[field] = await this.decryptValue(value);
    return out;
  }

  private shouldEncrypt(field: string): boolean {
    if (!this.legacy.forceEncryptWithV0) return field === this.eventField;
    const legacyField = this.legacy.eventEncryptionField;
    if (legacyField === undefined) return field === DEFAULT_EVENT_ENCRYPTION_FIELD;
    if (typeof legacyField === "function") return legacyField(field);
    if (Array.isArray(legacyField)) return legacyField.includes(field);
    return legacyField === field;
  }

  private legacyService(where = "encryptionMiddleware"): AesEncryptionService {
    if (!this.aes) {
      if (this.keys.length === 0) {
        throw new StepwiseError("invalid_config", `${where}: "key" is required to read or write legacy v0 (AES) values`);
      }
      this.aes = new AesEncryptionService(this.keys);
    }
    return this.aes;
  }
}

function isService(value: unknown): value is EncryptionService {
  return isRecord(value) && typeof value.identifier === "string" && typeof value.encrypt === "function" && typeof value.decrypt === "function";
}
