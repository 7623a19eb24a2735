import { describe, expect, it } from "vitest";
import { hashStepId, StepIdRegistry } from "./step-id.ts";

describe("step-id hashing (inngest-protocol §8.4)", () => {
  it("hashes user ids with SHA-1 as the official SDK does", () => {
    expect(hashStepId("my-step-id")).toBe("e7d8a2f140845095749d60246ff1110c9d01d76a");
    expect(hashStepId("first-step")).toBe("efec2b2037910199abcc3c58998255afa3066709");
    expect(hashStepId("complete")).toBe("0737c22d3bfae812339732d14d8c7dbd6dc4e09c");
  });

  it("gives repeats a counter in discovery order", () => {
    const ids = new StepIdRegistry();
    expect(ids.resolve("same-id")).toEqual({ hash: "9b767012ea06ccb052d1f22505b0cbbe0eb79350", finalId: "same-id" });
    expect(ids.resolve("same-id")).toEqual({ hash: "5be312e38fa79927b66c04d8d8f55152bf0822c8", finalId: "same-id:1", index: 1 });
    expect(ids.resolve("same-id")).toEqual({ hash: "840481fc23946098154fee5b6163d86c010dd646", finalId: "same-id:2", index: 2 });
  });

  it("skips a counter already taken by an explicit id", () => {
    const ids = new StepIdRegistry();
    ids.resolve("a:1");
    ids.resolve("a");
    expect(ids.resolve("a").finalId).toBe("a:2");
  });
});
