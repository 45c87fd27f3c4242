import { type ChildProcess, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";

/**
 * The compiled server: `npm run build`'s output run by the `cognive` bin as users and the image run it,
 * with a loader hook that fails the process on any TypeScript file or tsx.
 */
const ROOT = new URL("../../..", import.meta.url).pathname;
const BIN = join(ROOT, "query/bin/cognive.js");
const FORBID = join(ROOT, "query/test/fixtures/forbid-sources.mjs");
// No cognive-source condition (the test config sets one for every other spawn).
const PLAIN = { NODE_OPTIONS: "" };

describe("the compiled server", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-built-"));
  let server: ChildProcess | undefined;
  let otlpUrl = "";
  let queryUrl = "";

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [join(ROOT, "scripts/build.mjs")], {
      cwd: ROOT,
      env: { ...process.env, ...PLAIN },
      encoding: "utf8",
      timeout: 120_000,
    });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
    const ports = { otlp: await freePort(), query: await freePort() };
    otlpUrl = `http://127.0.0.1:${ports.otlp}`;
    queryUrl = `http://127.0.0.1:${ports.query}`;
    server = await spawnCognive(
      { ...PLAIN, COGNIVE_DATA_DIR: dataDir, COGNIVE_OTLP_PORT: String(ports.otlp), COGNIVE_PORT: String(ports.query) },
      ["--import", FORBID],
    );
  }, 180_000);

  afterAll(async () => {
    if (server) await stopProcess(server);
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
  }, 60_000);

  it("builds JavaScript for every server workspace and the UI bundle", () => {
    for (const f of [
      "semconv/dist/esm/index.js",
      "collector/dist/index.js",
      "collector/dist/storage/sql.js",
      "query/dist/cli.js",
      "query/dist/server.js",
      "ui/dist/cognive-ui.js",
    ]) {
      expect(existsSync(join(ROOT, f)), f).toBe(true);
    }
    // Relative imports point at the emitted .js files, not the sources.
    const cli = readFileSync(join(ROOT, "query/dist/cli.js"), "utf8");
    expect(cli).toMatch(/from "\.\/server\.js"/);
    expect(cli).not.toMatch(/from "\.{1,2}\/[^"]*\.ts"/);
  });

  it("ingests a span and reads it back without loading TypeScript or tsx", async () => {
    const traceId = "b1d7".repeat(8);
    const body = agentRunBody({ traceId, service: "built-svc", agent: "built-agent", model: "gpt-4o" });
    const sent = await postRaw(`${otlpUrl}/v1/traces`, body, { "content-type": "application/json" });
    expect(sent.status).toBe(200);
    let trace = await getJson(`${queryUrl}/api/v1/traces/${traceId}`);
    for (let i = 0; i < 50 && trace.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      trace = await getJson(`${queryUrl}/api/v1/traces/${traceId}`);
    }
    expect(trace.status).toBe(200);
    expect(trace.body.spans.map((s: { name: string }) => s.name)).toContain("invoke_agent built-agent");
    expect(server?.exitCode).toBeNull();
  }, 30_000);

  it("serves the UI bundle the build wrote", async () => {
    const res = await fetch(`${queryUrl}/ui/cognive-ui.js`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(readFileSync(join(ROOT, "ui/dist/cognive-ui.js"), "utf8"));
  });

  it("rebuilds on start once a source is newer than the build, and only then", () => {
    const help = () =>
      spawnSync(process.execPath, [BIN, "help"], {
        env: { ...process.env, ...PLAIN },
        encoding: "utf8",
        timeout: 120_000,
      });
    const fresh = help();
    expect(fresh.status).toBe(0);
    expect(fresh.stderr).not.toMatch(/building/);
    // An edit, as far as the build can tell: the source's mtime moves past the build's.
    const now = new Date();
    utimesSync(join(ROOT, "query/src/cli.ts"), now, now);
    const edited = help();
    expect(edited.status, edited.stderr).toBe(0);
    expect(edited.stderr).toMatch(/building the server \(query\/src\/cli\.ts changed since the last build\)/);
    expect(edited.stdout).toMatch(/Usage: cognive/);
    expect(help().stderr).not.toMatch(/building/);
  }, 240_000);

  it("the loader hook catches a run from the sources (so the checks above could fail)", () => {
    const r = spawnSync(process.execPath, ["--conditions=cognive-source", "--import", FORBID, BIN, "help"], {
      env: { ...process.env, ...PLAIN },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden source load: \S*(node_modules\/tsx\/|\.ts\b)/);
  }, 60_000);
});
