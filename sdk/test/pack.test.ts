import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calcPrice } from "@pydantic/genai-prices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installApp, pack, REPO, tscStrict } from "../../query/test/helpers/pack.ts";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";

/**
 * The published shape of @cognive/sdk: `npm pack` it and @cognive/semconv (their prepack builds them),
 * install the tarballs into an empty project outside the repository and use them as a user would — plain
 * `node` (ESM and require) against a running Cognive, and `tsc --strict` in nodenext mode.
 * The tarballs' third-party dependencies come from the npm cache, else the registry; when neither answers
 * the test is skipped with a message, unless COGNIVE_REQUIRE_SERVICES=1 (CI), where that is a failure.
 */

/** Asynchronous, so the in-process test server keeps answering while the agent runs. */
function runAsync(cmd: string, args: string[], cwd: string, env: Record<string, string>) {
  return new Promise<{ status: number; out: string }>((resolve) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? Number(error.code ?? 1) || 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

// A model call as the SDK sees it: an OpenAI chat completion with usage, including cached input tokens.
const AGENT = (load: string) => `${load}
const response = {
  id: "chatcmpl-pack", object: "chat.completion", model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1500, completion_tokens: 250, total_tokens: 1750, prompt_tokens_details: { cached_tokens: 1024 } },
};
const cognive = sdk.createCognive({ serviceName: process.env.AGENT, agent: process.env.AGENT, endpoint: process.env.ENDPOINT });
let traceId = "";
cognive.agentRun(process.env.AGENT, async () => {
  await cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => response);
}).then(async () => {
  await cognive.shutdown();
  console.log(JSON.stringify({ stats: cognive.stats(), exports: Object.keys(sdk).length }));
});
`;

const GOOD_TS = `import { createCognive, type CogniveOptions, type LlmCallOptions } from "@cognive/sdk";
import { Pricer } from "@cognive/semconv";
const options: CogniveOptions = { serviceName: "typed", endpoint: "http://127.0.0.1:4318", maxQueueSize: 10 };
const cognive = createCognive(options);
const call: LlmCallOptions = { provider: "openai", model: "gpt-4o" };
const answer: Promise<{ id: string }> = cognive.llmCall(call, async () => ({ id: "x" }));
export { answer, Pricer };
`;
const GOOD_CTS = `import sdk = require("@cognive/sdk");
const cognive: sdk.Cognive = sdk.createCognive({ serviceName: "typed-cjs" });
export = cognive;
`;
// Wrong option type and an unknown option: both must be compile errors for a consumer.
const BAD_TS = `import { createCognive } from "@cognive/sdk";
createCognive({ endpoint: 4318 });
createCognive({ serviceName: "x", maxQueueSizes: 10 });
`;

describe("@cognive/sdk as an installed package", () => {
  let dir = "";
  let app = "";
  let skipReason: string | null = null;
  let server: TestServer | undefined;
  let semconvFiles: string[] = [];
  let sdkFiles: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cognive-pack-"));
    const semconv = pack("semconv", dir);
    const sdk = pack("sdk", dir);
    semconvFiles = semconv.files;
    sdkFiles = sdk.files;
    ({ app, skipReason } = installApp(dir, [semconv.file, sdk.file, "@types/node@20"]));
    if (skipReason) return;
    server = await startTestServer();
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("packs only the build, the README and package.json", () => {
    for (const files of [semconvFiles, sdkFiles]) {
      expect(files).toContain("package.json");
      expect(files).toContain("dist/esm/index.js");
      expect(files).toContain("dist/esm/index.d.ts");
      expect(files).toContain("dist/cjs/index.js");
      expect(files).toContain("dist/cjs/index.d.ts");
      expect(files).toContain("dist/cjs/package.json");
      expect(files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md")).toEqual([]);
    }
    expect(sdkFiles).toContain("README.md");
    const manifest = JSON.parse(readFileSync(join(REPO, "sdk/package.json"), "utf8"));
    expect(manifest.private).toBeUndefined();
    expect(manifest.license).toBe("Apache-2.0");
    expect(manifest.engines.node).toBe(">=18");
  });

  for (const [kind, file, load] of [
    ["ESM import", "agent.mjs", 'import * as sdk from "@cognive/sdk";'],
    ["CommonJS require", "agent.cjs", 'const sdk = require("@cognive/sdk");'],
  ] as const) {
    it(`runs with plain node (${kind}) and the stored call is priced exactly`, async (ctx) => {
      if (skipReason) return ctx.skip(skipReason);
      const agent = `pack-${file.replace(".", "-")}`;
      writeFileSync(join(app, file), AGENT(load));
      // No tsx, no loader, no source condition: what a user's project has.
      const r = await runAsync(process.execPath, [file], app, {
        ENDPOINT: server!.otlpUrl,
        AGENT: agent,
        NODE_OPTIONS: "",
      });
      expect(r.status, r.out).toBe(0);
      const result = JSON.parse(r.out.trim().split("\n").at(-1)!);
      expect(result.stats).toMatchObject({ exportedSpans: 2, droppedSpans: 0, failedExports: 0 });
      expect(result.exports).toBeGreaterThan(10);

      const search = await fetch(`${server!.queryUrl}/api/v1/traces?service=${agent}&limit=5`);
      expect(search.status).toBe(200);
      const found = (await search.json()) as { traces: { traceId: string }[] };
      expect(found.traces).toHaveLength(1);
      const res = await fetch(`${server!.queryUrl}/api/v1/traces/${found.traces[0].traceId}`);
      const body = (await res.json()) as { spans: { name: string; genAi: Record<string, unknown> }[] };
      const call = body.spans.find((s) => s.name === "chat gpt-4o")!;
      // Cognive stores money to the nano-dollar.
      const expected =
        Math.round(
          calcPrice({ input_tokens: 1500, cache_read_tokens: 1024, output_tokens: 250 }, "gpt-4o", {
            providerId: "openai",
          })!.total_price * 1e9,
        ) / 1e9;
      expect(expected).toBeGreaterThan(0);
      expect(call.genAi).toMatchObject({ inputTokens: 1500, cacheReadTokens: 1024, outputTokens: 250, priced: true });
      expect(call.genAi.costUsd).toBe(expected);
    }, 120_000);
  }

  it("type-checks a consumer with tsc --strict in nodenext mode, and rejects a wrong option", (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    writeFileSync(join(app, "good.mts"), GOOD_TS);
    writeFileSync(join(app, "good.cts"), GOOD_CTS);
    writeFileSync(join(app, "bad.mts"), BAD_TS);
    const tsc = (files: string[]) => tscStrict(app, files);
    const good = tsc(["good.mts", "good.cts"]);
    expect(good.out).toBe("");
    expect(good.status).toBe(0);
    const bad = tsc(["bad.mts"]);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/bad\.mts\(2,\d+\): error TS2322/);
    expect(bad.out).toMatch(/bad\.mts\(3,\d+\): error TS2561|bad\.mts\(3,\d+\): error TS2353/);
  }, 240_000); // two tsc runs over the installed packages: tens of seconds each on a loaded machine
});
