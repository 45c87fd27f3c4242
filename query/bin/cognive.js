#!/usr/bin/env node
// The `cognive` command. It runs the compiled server (query/dist, from `npm run build`); in a checkout it
// builds first when that build is missing or older than the sources, so `npm ci && npm start` and
// `npm start` after a pull need no separate step. Under the cognive-source condition
// (`node --conditions=cognive-source`, as the tests, demo and benchmarks run) it runs the TypeScript
// sources through tsx instead, a dev dependency.
import { existsSync } from "node:fs";

const cli = import.meta.resolve("@cognive/query/cli");
if (cli.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
} else {
  const builder = new URL("../../scripts/build.mjs", import.meta.url);
  // An image or an installed copy carries the build and no build script.
  if (existsSync(builder)) await (await import(builder.href)).buildIfStale();
  else if (!existsSync(new URL(cli))) {
    process.stderr.write(`cognive: ${new URL(cli).pathname} is missing: run \`npm run build\` first\n`);
    process.exit(1);
  }
}
await import(cli);
