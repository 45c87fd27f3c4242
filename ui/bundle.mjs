/**
 * The single-file bundle: every component in one minified ES module, `dist/cognive-ui.js`. Plain
 * JavaScript so that `npm run build` runs it before anything is compiled. The server serves the file the
 * build wrote; in-repo (the cognive-source condition) it calls `buildBundle` at start instead, so edits
 * to the components show up without a build.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const ENTRY = new URL("./src/index.ts", import.meta.url).pathname;
export const BUNDLE_FILE = new URL("./dist/cognive-ui.js", import.meta.url).pathname;

/** @returns {Promise<import("./bundle.d.mts").UiBundle>} */
export async function buildBundle() {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2022",
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  const [file] = result.outputFiles;
  if (!file) throw new Error("UI build produced no output");
  return { js: file.text };
}

/** Builds the bundle into `dist/cognive-ui.js`; returns its size in bytes. */
export async function writeBundle() {
  const { js } = await buildBundle();
  mkdirSync(new URL("./dist/", import.meta.url), { recursive: true });
  writeFileSync(BUNDLE_FILE, js);
  return js.length;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  process.stdout.write(`wrote ${BUNDLE_FILE} (${await writeBundle()} bytes)\n`);
}
