import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // An unhandled rejection anywhere fails the run (vitest's default; kept explicit).
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 30_000,
    pool: "forks",
  },
});
