/**
 * Builds the components into one ES module. The query server calls `buildBundle` at start, so
 * `npm start` needs no separate build step; `npm run build -w @cognive/ui` writes `dist/` for CDNs.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const ENTRY = new URL("./src/index.ts", import.meta.url).pathname;

export interface UiBundle {
  /** The minified ES module defining every `<cognive-*>` element. */
  js: string;
}

export async function buildBundle(): Promise<UiBundle> {
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

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const { js } = await buildBundle();
  const dir = new URL("./dist/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}cognive-ui.js`, js);
  process.stdout.write(`wrote ${dir}cognive-ui.js (${js.length} bytes)\n`);
}
