import { describe, expect, it } from "vitest";
import { hashSigningKey, signBody, verifyBearer, verifySignature } from "./signing.ts";

describe("signing (inngest-protocol §4)", () => {
  it("hashes a signing key into the bearer the SDK sends", () => {
    expect(hashSigningKey("signkey-prod-12345678")).toBe("signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c");
    expect(verifyBearer("Bearer signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c", ["signkey-prod-12345678"])).toBe(true);
    expect(verifyBearer("Bearer signkey-prod-00", ["signkey-prod-12345678"])).toBe(false);
    // keys and bearers as the official SDK derives them (values captured once from it)
    expect(hashSigningKey("signkey-test-8e8b5b1c2f3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6")).toBe(
      "signkey-test-91aa00eb94e4fc3284565130d68173d705a690e9ddb7931eca9a888d82e4a1f2",
    );
  });

  it("signs and verifies bodies within five minutes, with fallback keys", () => {
    const key = "signkey-test-abcdef0123";
    const header = signBody('{"a":1}', key, 1_000_000);
    expect(header).toMatch(/^t=1000000&s=[0-9a-f]{64}$/);
    expect(verifySignature(header, '{"a":1}', [key], 1_000_100)).toBe(true);
    expect(verifySignature(header, '{"a":1}', ["signkey-test-ff", key], 1_000_100)).toBe(true);
    expect(verifySignature(header, '{"a":2}', [key], 1_000_100)).toBe(false);
    expect(verifySignature(header, '{"a":1}', [key], 1_000_301)).toBe(false);
    expect(verifySignature(undefined, "", [key])).toBe(false);
  });
});
