#!/usr/bin/env node
// Loads the TypeScript CLI in this same process through tsx, so no build step stands between
// `npm ci` and `npm start`, and signals reach the server directly.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
