import { decodeTime, isValid } from "ulid";
import { describe, expect, it } from "vitest";
import { idsFromSeed } from "./event-id-seed.ts";

describe("event id seed (inngest-protocol §7.4)", () => {
  it("derives stable, distinct ULIDs carrying the seed's time", () => {
    const ids = idsFromSeed("1795311001837,qvaA0UEG0A2J8w==", 3) as string[];
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) {
      expect(isValid(id)).toBe(true);
      expect(decodeTime(id)).toBe(1795311001837);
    }
    expect(idsFromSeed("1795311001837,qvaA0UEG0A2J8w==", 3)).toEqual(ids);
    expect(ids[1]?.slice(0, 20)).toBe(ids[0]?.slice(0, 20));
  });

  it("ignores missing or malformed seeds", () => {
    expect(idsFromSeed(undefined, 1)).toBeUndefined();
    expect(idsFromSeed("0,qvaA0UEG0A2J8w==", 1)).toBeUndefined();
    expect(idsFromSeed("123,AAAA", 1)).toBeUndefined();
    expect(idsFromSeed("nope", 1)).toBeUndefined();
  });
});
