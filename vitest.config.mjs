// Unit tests of the front ends (the chart, metric series, the sidebar's API client): `npm test`.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["widgets/tests/**/*.test.ts", "labextension/tests/**/*.test.ts"],
    environment: "jsdom",
    setupFiles: ["./vitest.setup.mjs"],
  },
});
