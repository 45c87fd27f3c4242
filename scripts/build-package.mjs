#!/usr/bin/env node
// Builds the workspace in the current directory to dist/esm and dist/cjs (both with .d.ts), for
// `npm pack`/publish; `--esm-only` skips CommonJS (the UI components are for browsers and bundlers).
// In-repo code never needs this: it resolves the sources via the cognive-source condition.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const esmOnly = process.argv.includes("--esm-only");
rmSync("dist", { recursive: true, force: true });
const build = (args) => execFileSync(process.execPath, [tsc, ...args], { stdio: "inherit" });
// tsconfig.build.json: only src, emitting, no cognive-source condition (dependencies resolve to their builds).
const common = ["-p", "tsconfig.build.json"];
build([...common, "--outDir", "dist/esm"]);
// CommonJS: a per-file transpile of the same sources (isolatedModules guarantees that is sound; the ESM
// pass above did the type check), with the ESM pass's declarations beside it.
if (!esmOnly) {
  build([
    ...common,
    ...[
      "--outDir",
      "dist/cjs",
      "--module",
      "commonjs",
      "--moduleResolution",
      "node10",
      "--verbatimModuleSyntax",
      "false",
    ],
    ...["--declaration", "false", "--noCheck"],
  ]);
}
// tsc keeps the sources' relative `.ts` specifiers in declarations; consumers resolve the emitted `.js`.
for (const f of readdirSync("dist/esm", { recursive: true, encoding: "utf8" }).filter((n) => n.endsWith(".d.ts"))) {
  const file = join("dist/esm", f);
  writeFileSync(file, readFileSync(file, "utf8").replace(/(["']\.{1,2}\/[^"'\n]*)\.ts(["'])/g, "$1.js$2"));
}
if (!esmOnly) {
  cpSync("dist/esm", "dist/cjs", { recursive: true, filter: (f) => !f.endsWith(".js") });
  // The package is "type": "module"; this marks the .js (and .d.ts) under dist/cjs as CommonJS.
  writeFileSync("dist/cjs/package.json", '{ "type": "commonjs" }\n');
}
