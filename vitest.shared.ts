// Shared by every workspace's vitest.config.ts: in-repo tests resolve @cognive/* packages to their
// TypeScript sources (the cognive-source export condition) rather than to their builds, so no build is needed.
import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

export const SOURCE_CONDITION = "cognive-source";

// Vitest's own default drops "module" (packages' ESM-for-bundlers builds); keep that, add ours.
const conditions = [SOURCE_CONDITION, ...defaultServerConditions.filter((c) => c !== "module")];

// Node processes the tests spawn (`cognive` itself, agents) inherit the condition too, so they run the
// sources under test rather than a build that may be stale; a test of the build clears NODE_OPTIONS.
const NODE_OPTIONS = [process.env.NODE_OPTIONS, `--conditions=${SOURCE_CONDITION}`].filter(Boolean).join(" ");

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  // Setup hooks build a migrated store (every migration) or start a server: on a loaded 2-core
  // machine that has taken over 10 s, vitest's default, so they get a minute.
  test: { env: { NODE_OPTIONS }, hookTimeout: 60_000 },
});
