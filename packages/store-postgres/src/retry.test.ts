import { describe, expect, it } from "vitest";
import { redactSecrets, redactUrl } from "./redact.ts";
import { isTransient, withRetry } from "./retry.ts";

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe("retrying transient Postgres failures", () => {
  it("classifies serialization failures, deadlocks, shutdowns and lost connections as transient, constraint errors not", () => {
    for (const code of ["40001", "40P01", "57P01", "08006", "ECONNREFUSED", "53300"]) expect(isTransient(pgError(code))).toBe(true);
    expect(isTransient(new Error("Connection terminated unexpectedly"))).toBe(true);
    for (const code of ["23505", "42P01", "22P02"]) expect(isTransient(pgError(code))).toBe(false);
    expect(isTransient(new Error("boom"))).toBe(false);
  });

  it("runs again after a deadlock, and gives up after forMs", async () => {
    let calls = 0;
    expect(await withRetry(async () => (++calls < 3 ? Promise.reject(pgError("40P01")) : "ok"), { forMs: 5_000, ambiguous: "throw" })).toBe("ok");
    expect(calls).toBe(3);
    const started = Date.now();
    await expect(withRetry(() => Promise.reject(pgError("57P01")), { forMs: 100, ambiguous: "retry" })).rejects.toMatchObject({ code: "57P01" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("a connection lost during COMMIT is retried only for writes safe to apply twice", async () => {
    const lostAtCommit = (ambiguous: "retry" | "throw") => {
      let calls = 0;
      const run = withRetry(
        async (committing) => {
          calls++;
          committing();
          if (calls === 1) throw pgError("08006");
          return "again";
        },
        { forMs: 5_000, ambiguous },
      );
      return run.then(
        (value) => ({ value, calls }),
        (error: { code: string }) => ({ value: error.code, calls }),
      );
    };
    expect(await lostAtCommit("retry")).toEqual({ value: "again", calls: 2 });
    expect(await lostAtCommit("throw")).toEqual({ value: "08006", calls: 1 });
  });

  it("never retries a non-transient error", async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw pgError("23505");
        },
        { forMs: 5_000, ambiguous: "retry" },
      ),
    ).rejects.toMatchObject({ code: "23505" });
    expect(calls).toBe(1);
  });
});

describe("redacting database URLs", () => {
  it("hides the password and password parameters, leaves paths alone", () => {
    expect(redactUrl("postgres://app:s3cret@db:5432/prod")).toBe("postgres://app:***@db:5432/prod");
    expect(redactUrl("postgresql://app@db/prod?sslmode=require&password=x")).toBe("postgresql://app@db/prod?sslmode=require&password=***");
    expect(redactUrl("./stepwise.db")).toBe("./stepwise.db");
    expect(redactSecrets("failed for postgres://app:s3cret@db/prod: password s3cret rejected", "postgres://app:s3cret@db/prod")).toBe(
      "failed for postgres://app:***@db/prod: password *** rejected",
    );
  });
});
