#!/usr/bin/env node
// Loads the TypeScript CLI in this same process through tsx, so no build step stands between
// `npm ci` and `npm start`, and signals reach the server directly.
import { register as registerHooks } from "node:module";
import { register } from "tsx/esm/api";

// Registered before tsx so it sits nearest Node's resolver: @cognive/* resolve to their sources.
registerHooks("./source-condition.mjs", import.meta.url);
register();
await import("../src/cli.ts");
