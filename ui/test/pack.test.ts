import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installApp, pack, REPO, tscStrict } from "../../query/test/helpers/pack.ts";
import { launchChromium, missingChromium, syntheticTrace, watchErrors } from "../../query/test/ui/browser.ts";

/**
 * The published shape of @cognive/ui: `npm pack` it (its prepack builds it), install the tarball into an
 * empty project outside the repository, type-check a consumer with `tsc --strict` (nodenext), bundle the
 * consumer with esbuild from the installed package and render it in headless Chromium.
 * lit and uplot come from the npm cache, else the registry; when neither answers the test is skipped
 * with a message, unless COGNIVE_REQUIRE_SERVICES=1 (CI), where that is a failure.
 */

// A portal's code: an element class, a typed event and a trace document set as a property.
const CONSUMER = `import { CogniveTraceView, type ApiTraceDetail, type SpanSelectDetail, type TraceSelectDetail } from "@cognive/ui";

const view: CogniveTraceView = document.createElement("cognive-trace-view");
view.addEventListener("cognive-span-select", (e) => {
  const detail: SpanSelectDetail = e.detail;
  document.body.dataset.selected = detail.traceId + "/" + detail.spanId;
});
document.addEventListener("cognive-trace-select", (e) => {
  const detail: TraceSelectDetail = e.detail;
  console.log(detail.traceId);
});
view.trace = JSON.parse(document.getElementById("trace")?.textContent ?? "null") as ApiTraceDetail;
document.body.append(view);
document.body.dataset.defined = String(customElements.get("cognive-trace-view") === CogniveTraceView);
`;
// A detail read as the wrong type, and a property given the wrong type: both compile errors.
const BAD = `import type { CogniveTraceView } from "@cognive/ui";
declare const view: CogniveTraceView;
view.addEventListener("cognive-span-select", (e) => { const n: number = e.detail.spanId; console.log(n); });
view.traceId = 42;
`;
const TSC_DOM = ["--target", "es2022", "--lib", "es2022,dom,dom.iterable"];

describe("@cognive/ui as an installed package", () => {
  let dir = "";
  let app = "";
  let skipReason: string | null = null;
  let files: string[] = [];
  let browser: Browser | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cognive-ui-pack-"));
    const ui = pack("ui", dir);
    files = ui.files;
    ({ app, skipReason } = installApp(dir, [ui.file]));
    if (!skipReason) {
      writeFileSync(join(app, "consumer.mts"), CONSUMER);
      writeFileSync(join(app, "bad.mts"), BAD);
    }
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("packs the ES module build with declarations, the single-file bundle and the README only", () => {
    for (const f of ["package.json", "README.md", "dist/esm/index.js", "dist/esm/index.d.ts", "dist/cognive-ui.js"]) {
      expect(files).toContain(f);
    }
    expect(files).toContain("dist/esm/events.d.ts");
    expect(files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md")).toEqual([]);
    expect(files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(REPO, "ui/package.json"), "utf8"));
    expect(manifest.private).toBeUndefined();
    expect(manifest.license).toBe("Apache-2.0");
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.dependencies.esbuild).toBeUndefined();
  });

  it("type-checks a consumer with tsc --strict in nodenext mode, and rejects a wrongly typed detail", (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const good = tscStrict(app, ["consumer.mts"], TSC_DOM);
    expect(good.out).toBe("");
    expect(good.status).toBe(0);
    const bad = tscStrict(app, ["bad.mts"], TSC_DOM);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/bad\.mts\(3,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(bad.out).toMatch(/bad\.mts\(4,\d+\): error TS2322/);
  }, 240_000); // two tsc runs over the installed packages: tens of seconds each on a loaded machine

  it.skipIf(missingChromium())(
    "bundles from the installed package with esbuild and renders in headless Chromium",
    async (ctx) => {
      if (skipReason) return ctx.skip(skipReason);
      const bundled = await build({
        absWorkingDir: app,
        entryPoints: ["consumer.mts"],
        bundle: true,
        format: "esm",
        write: false,
        metafile: true,
        logLevel: "silent",
      });
      const js = bundled.outputFiles[0]!.text;
      // Resolved from the installed build, not from the repository's sources.
      const inputs = Object.keys(bundled.metafile.inputs);
      expect(inputs).toContain("node_modules/@cognive/ui/dist/esm/trace-view.js");
      expect(inputs.filter((f) => f.includes("@cognive/ui/") && !f.includes("/dist/esm/"))).toEqual([]);

      const trace = syntheticTrace(20) as { traceId: string; spans: { spanId: string }[] };
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      const errors = watchErrors(page);
      await page.setContent(
        `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>` +
          `<script type="application/json" id="trace">${JSON.stringify(trace)}</script></body></html>`,
      );
      await page.addScriptTag({ content: js, type: "module" });
      const rows = page.locator("cognive-trace-view [role=row][data-span-id]");
      await rows.first().waitFor();
      expect(await rows.count()).toBeGreaterThan(1);
      expect(await page.evaluate(() => document.body.dataset.defined)).toBe("true");
      // Choosing a row reaches the consumer's typed listener with the span's ids.
      const second = rows.nth(1);
      const spanId = await second.getAttribute("data-span-id");
      await second.click();
      await page.waitForFunction(() => document.body.dataset.selected !== undefined);
      expect(await page.evaluate(() => document.body.dataset.selected)).toBe(`${trace.traceId}/${spanId}`);
      expect(errors).toEqual([]);
    },
    120_000,
  );
});
