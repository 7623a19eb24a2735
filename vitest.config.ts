import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["stepwise-source"] },
  ssr: { resolve: { conditions: ["stepwise-source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "tests/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
  },
});
