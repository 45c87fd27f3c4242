#!/usr/bin/env node
// `npm run build`: the server as JavaScript. Every source file of semconv, collector and query is
// transpiled on its own (esbuild, no bundling, relative `./x.ts` imports rewritten to `./x.js`), and the
// UI becomes the single-file bundle the server serves. Type checking is `npm run typecheck`'s job, so the
// build stays a few seconds and `npm ci && npm start` stays fast. The published packages' own builds
// (declarations, CommonJS) are `scripts/build-package.mjs`, run by `npm pack`.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** Source dir → output dir of each server workspace (semconv's matches its package build's ESM half). */
const TARGETS = [
  { src: "semconv/src", out: "semconv/dist/esm" },
  { src: "collector/src", out: "collector/dist" },
  { src: "query/src", out: "query/dist" },
];
/** The UI bundle's inputs, and the file the build writes last: its mtime is the build's time. */
const UI_INPUTS = ["ui/src", "ui/bundle.mjs"];
const STAMP = "query/dist/.built";
const LOCK = join(ROOT, "query/.build-lock");

function files(dir) {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [abs];
  return readdirSync(abs, { recursive: true, encoding: "utf8" }).map((f) => join(abs, f));
}

/** Why a build is needed (dist missing or older than a source or manifest), or null when it is current. */
export function staleReason() {
  const stamp = join(ROOT, STAMP);
  if (!existsSync(stamp)) return "no build yet";
  const missing = [...TARGETS.map((t) => t.out), "ui/dist/cognive-ui.js"].find((f) => !existsSync(join(ROOT, f)));
  if (missing) return `${missing} is missing`;
  const built = statSync(stamp).mtimeMs;
  const inputs = [
    ...TARGETS.flatMap((t) => files(t.src)),
    ...UI_INPUTS.flatMap(files),
    ...["semconv", "collector", "query", "ui"].map((w) => join(ROOT, w, "package.json")),
  ];
  const newer = inputs.find((f) => statSync(f).mtimeMs > built);
  return newer ? `${newer.slice(ROOT.length)} changed since the last build` : null;
}

/** Relative `.ts` imports become `.js`; everything else stays an import (nothing is bundled). */
const rewriteImports = {
  name: "rewrite-relative-ts",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      const path = /^\.\.?\//.test(args.path) ? args.path.replace(/\.ts$/, ".js") : args.path;
      return { path, external: true };
    });
  },
};

export async function build() {
  const { build: esbuild } = await import("esbuild").catch((err) => {
    // An install without dev dependencies (npm ci --omit=dev) can run a build but not make one.
    throw new Error(`building the server needs esbuild, a dev dependency: run \`npm ci\` first (${err.message})`);
  });
  const started = performance.now();
  for (const { src, out } of TARGETS) {
    // Written beside the old output and swapped in, so a running server never sees a half-written dist.
    const tmp = join(ROOT, `${out}.tmp-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    await esbuild({
      entryPoints: files(src).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
      outdir: tmp,
      outbase: join(ROOT, src),
      bundle: true,
      plugins: [rewriteImports],
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: true,
      logLevel: "warning",
    });
    rmSync(join(ROOT, out), { recursive: true, force: true });
    mkdirSync(join(ROOT, out, ".."), { recursive: true });
    renameSync(tmp, join(ROOT, out));
  }
  const { writeBundle } = await import("../ui/bundle.mjs");
  await writeBundle();
  writeFileSync(join(ROOT, STAMP), `${new Date().toISOString()}\n`);
  return performance.now() - started;
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds when the build is missing or stale; processes started together (several `cognive` at once)
 * take turns through a lock directory, and the later ones find the build current.
 */
export async function buildIfStale(log = (msg) => process.stderr.write(`${msg}\n`)) {
  if (!staleReason()) return;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // A lock left by a killed build is taken over after two minutes.
      if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs > 120_000)
        rmSync(LOCK, { force: true, recursive: true });
      sleep(100);
    }
  }
  try {
    const reason = staleReason();
    if (!reason) return;
    log(`cognive: building the server (${reason})…`);
    const ms = await build();
    log(`cognive: built in ${(ms / 1000).toFixed(1)} s`);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const ms = await build();
  process.stdout.write(`built semconv, collector, query and the UI bundle in ${(ms / 1000).toFixed(1)} s\n`);
}
