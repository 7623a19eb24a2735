/**
 * @module canonical-json
 * RFC 8785 (JCS) serialisation via `canonicalize`, the library the official SDK itself
 * uses to verify signatures. (Its typings declare an ES default export while the package
 * is CommonJS, so the import is normalised here once.)
 */
import * as canonicalizeModule from "canonicalize";

type Serialize = (input: unknown) => string | undefined;
const moduleValue = canonicalizeModule as unknown as { default?: Serialize } & Serialize;
const serialize: Serialize = typeof moduleValue.default === "function" ? moduleValue.default : moduleValue;

export function canonicalJson(value: unknown): string {
  return serialize(value) ?? "null";
}
