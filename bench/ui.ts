/**
 * UI benchmark: the bundle's size (minified, gzipped as the query server sends it) and, in a real
 * headless Chromium, the time `<cognive-trace-view>` takes from being handed a synthetic trace to
 * the first painted frame showing its rows.
 *   npx tsx bench/ui.ts -- [--spans 5000] [--runs 20] [--warmup 3]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { launchChromium, syntheticTrace } from "../query/test/ui/browser.ts";
import { buildBundle } from "../ui/bundle.mjs";
import { machine, percentile, ROOT } from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "5000" },
    runs: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
  },
});
const SPANS = Number(args.spans);
const RUNS = Number(args.runs);
const WARMUP = Number(args.warmup);

/** Targets from the issue. */
const TARGET_GZIP_KB = 80;
const TARGET_RENDER_MS = 300;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><script type="module" src="/cognive-ui.js"></script></head>
<body style="margin:0"><div id="host"></div></body></html>`;

async function main() {
  const { js } = await buildBundle();
  const raw = Buffer.byteLength(js);
  const gzip = gzipSync(js, { level: 9 }).length;

  const server = createServer((req, res) => {
    if (req.url === "/cognive-ui.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      res.end(js);
    } else {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => customElements.get("cognive-trace-view") !== undefined);
    const trace = syntheticTrace(SPANS);
    const timings: number[] = await page.evaluate(
      async ({ trace, runs, warmup }) => {
        const host = document.getElementById("host") as HTMLElement;
        const out: number[] = [];
        for (let i = 0; i < warmup + runs; i++) {
          // A fresh copy and a fresh element per run: nothing is cached between runs.
          const copy = structuredClone(trace);
          const el = document.createElement("cognive-trace-view") as HTMLElement & {
            trace: unknown;
            updateComplete: Promise<unknown>;
          };
          el.style.setProperty("--cognive-trace-height", "600px");
          host.append(el);
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          const t0 = performance.now();
          el.trace = copy;
          await el.updateComplete;
          // The frame that shows the rows has been painted once a task queued from its
          // animation-frame callback runs.
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          const ms = performance.now() - t0;
          const rows = el.shadowRoot?.querySelectorAll("[role=row][data-span-id]").length ?? 0;
          if (rows === 0) throw new Error("no rows rendered");
          if (i >= warmup) out.push(ms);
          el.remove();
        }
        return out;
      },
      { trace, runs: RUNS, warmup: WARMUP },
    );
    const rowsInDom = await page.evaluate(async (trace) => {
      const el = document.createElement("cognive-trace-view") as HTMLElement & {
        trace: unknown;
        updateComplete: Promise<unknown>;
      };
      el.style.setProperty("--cognive-trace-height", "600px");
      document.body.append(el);
      el.trace = trace;
      await el.updateComplete;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return el.shadowRoot?.querySelectorAll("[role=row][data-span-id]").length ?? 0;
    }, trace);
    const version = browser.version();

    const sorted = [...timings].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p95 = percentile(sorted, 95);
    const max = sorted[sorted.length - 1] ?? Number.NaN;
    const result = {
      bench: "ui",
      date: new Date().toISOString(),
      machine: machine(),
      chromium: version,
      bundle: { bytes: raw, gzipBytes: gzip, meetsTarget: gzip <= TARGET_GZIP_KB * 1024 },
      traceRender: {
        spans: SPANS,
        runs: RUNS,
        p50Ms: p50,
        p95Ms: p95,
        maxMs: max,
        rowsInDom,
        meetsTarget: p95 <= TARGET_RENDER_MS,
      },
    };

    const header = ["measure", "value", "target"];
    const rows = [
      ["bundle, minified", `${(raw / 1024).toFixed(1)} KB`, "–"],
      [
        "bundle, gzipped",
        `${(gzip / 1024).toFixed(1)} KB`,
        `≤ ${TARGET_GZIP_KB} KB ${result.bundle.meetsTarget ? "ok" : "MISSED"}`,
      ],
      [`${SPANS.toLocaleString("en-US")}-span trace render p50`, `${p50.toFixed(1)} ms`, "–"],
      [
        `${SPANS.toLocaleString("en-US")}-span trace render p95`,
        `${p95.toFixed(1)} ms`,
        `≤ ${TARGET_RENDER_MS} ms ${result.traceRender.meetsTarget ? "ok" : "MISSED"}`,
      ],
      [`${SPANS.toLocaleString("en-US")}-span trace render max`, `${max.toFixed(1)} ms`, "–"],
      ["rows in the DOM", String(rowsInDom), "–"],
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
    process.stdout.write(
      `\n${[line(header), ...rows.map(line)].join("\n")}\n\n` +
        `runs               ${RUNS} (after ${WARMUP} warm-up)\n` +
        `chromium           ${version}\n` +
        `machine            ${result.machine.cores} × ${result.machine.cpuModel}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}\n`,
    );
    const outDir = join(ROOT, "bench", "out");
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `ui-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwritten: ${file}\n`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
