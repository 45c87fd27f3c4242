import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { loadEnvConfig } from "@cognive/collector";
import { describe, expect, it } from "vitest";
import { freePort } from "../helpers/process.ts";
import { useTestServer } from "../helpers/server.ts";

/**
 * The Dockerfile read as instructions (no Docker engine runs here, so the image is not built), and
 * its healthcheck script run against a real Cognive.
 */

const ROOT = new URL("../../../", import.meta.url).pathname;
const DEFAULTS = loadEnvConfig({});
// The literal `${NODE_IMAGE}` (split so it reads as no template placeholder).
const NODE_IMAGE_ARG = "$" + "{NODE_IMAGE}";
const HEALTHCHECK = join(ROOT, "deploy/docker/healthcheck.mjs");

interface Instruction {
  op: string;
  args: string;
}

/** Instructions in order: comments dropped, `\` continuations joined. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: (m?.[2] ?? "").replace(/\s+/g, " ") };
    });
}

const all = instructions(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const lastFrom = all.map((i) => i.op).lastIndexOf("FROM");
const final = all.slice(lastFrom);
const args = (op: string) => final.filter((i) => i.op === op).map((i) => i.args);
/** `ENV A=1 B=2` as a map (the key=value form). */
const env = Object.fromEntries(args("ENV").flatMap((a) => a.split(" ").map((kv) => kv.split("=") as [string, string])));

describe("Dockerfile", () => {
  it("is multi-stage on Node 20 LTS slim, installing production dependencies only", () => {
    const froms = all.filter((i) => i.op === "FROM").map((i) => i.args);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const base = all.find((i) => i.op === "ARG" && i.args.startsWith("NODE_IMAGE="))?.args;
    expect(base).toBe("NODE_IMAGE=node:20-bookworm-slim");
    // Each stage starts from the Node image or from an earlier stage.
    const stages = new Set<string>();
    for (const f of froms) {
      const m = /^(\S+) AS (\S+)$/.exec(f);
      expect(m, f).not.toBeNull();
      expect(m![1] === NODE_IMAGE_ARG || stages.has(m![1]), f).toBe(true);
      stages.add(m![2]);
    }
    const installs = all.filter((i) => i.op === "RUN" && i.args.includes("npm ci")).map((i) => i.args);
    // The runtime's node_modules come from the stage that installs without dev dependencies.
    const copiedStage = /^--from=(\S+) \/app \/app$/.exec(
      args("COPY").find((a) => a.endsWith(" /app /app")) ?? "",
    )?.[1];
    const stage = all.slice(all.findIndex((i) => i.op === "FROM" && i.args.endsWith(` AS ${copiedStage}`)));
    const stageInstall = stage.find((i) => i.op === "RUN" && i.args.includes("npm ci"))?.args ?? "";
    expect(installs).toContain(stageInstall);
    expect(stageInstall).toContain("--omit=dev");
  });

  it("compiles the server in a build stage and runs the build, not the sources through tsx", () => {
    const start = all.findIndex((i) => i.op === "FROM" && / AS build$/.test(i.args));
    const build = all.slice(
      start,
      all.findIndex((i, n) => n > start && i.op === "FROM"),
    );
    const runs = build.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(runs.some((r) => /^npm ci\b/.test(r) && !r.includes("--omit=dev"))).toBe(true);
    expect(runs.indexOf("npm run build")).toBeGreaterThan(runs.findIndex((r) => r.startsWith("npm ci")));
    // The final stage takes the compiled output from the build stage and no TypeScript source.
    const fromBuild = args("COPY").filter((a) => a.startsWith("--from=build "));
    for (const out of ["semconv/dist/esm", "collector/dist", "query/dist", "ui/dist/cognive-ui.js"]) {
      expect(
        fromBuild.some((a) => a.startsWith(`--from=build /app/${out} `)),
        out,
      ).toBe(true);
    }
    for (const a of args("COPY")) expect(a).not.toMatch(/(^|\/)(src|semconv|collector|query|ui)\/? /);
    // tsx is a dev tool: not a production dependency, and the bin loads it only for source runs.
    const queryPkg = JSON.parse(readFileSync(join(ROOT, "query/package.json"), "utf8"));
    expect(queryPkg.dependencies.tsx).toBeUndefined();
    expect(readFileSync(join(ROOT, "query/bin/cognive.js"), "utf8")).not.toMatch(/^import .*"tsx/m);
  });

  it("runs as a non-root user", () => {
    const users = args("USER");
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it("keeps data in a /data volume and listens off loopback (so keys are required)", () => {
    expect(args("VOLUME")).toContain("/data");
    expect(env.COGNIVE_DATA_DIR).toBe("/data");
    expect(env.COGNIVE_HOST).toBe("0.0.0.0");
    expect(env.COGNIVE_AUTH).toBeUndefined();
    for (const key of Object.keys(env)) expect(key).not.toBe("COGNIVE_ADMIN_KEY");
  });

  it("exposes Cognive's default ports", () => {
    const exposed = args("EXPOSE").flatMap((a) => a.split(" ").map(Number));
    expect(exposed.sort()).toEqual(
      [DEFAULTS.COGNIVE_GRPC_PORT, DEFAULTS.COGNIVE_OTLP_PORT, DEFAULTS.COGNIVE_PORT].sort(),
    );
  });

  it("has a HEALTHCHECK running the healthcheck script, and one entry point for every role", () => {
    const hc = args("HEALTHCHECK");
    expect(hc).toHaveLength(1);
    expect(hc[0]).toContain('CMD ["node", "deploy/docker/healthcheck.mjs"]');
    expect(args("ENTRYPOINT")).toEqual(['["node", "query/bin/cognive.js"]']);
    expect(args("CMD")).toEqual(['["start"]']);
  });

  it("copies sources that exist, and the healthcheck script into the image", () => {
    const copies = all.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"));
    for (const c of copies) {
      const parts = c.args.split(" ");
      for (const src of parts.slice(0, -1)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    expect(args("COPY").some((a) => a.startsWith("deploy/docker/healthcheck.mjs "))).toBe(true);
  });

  it("keeps local data, secrets and installed modules out of the build context", () => {
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim());
    // An allowlist: everything is left out unless named.
    expect(ignore.find((l) => l && !l.startsWith("#"))).toBe("*");
    for (const p of ["**/node_modules", "**/data", "**/.venv", "**/dist", ".env", ".git"]) expect(ignore).toContain(p);
    for (const ws of ["semconv", "collector", "query", "ui"]) expect(ignore).toContain(`!${ws}/`);
    expect(ignore).toContain("!deploy/docker/");
    expect(ignore).toContain("!scripts/build.mjs");
  });
});

describe("the image's healthcheck script", () => {
  const cognive = useTestServer();

  // Asynchronous: the servers it calls run in this process.
  const run = (vars: Record<string, string>) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [HEALTHCHECK], { env: { ...process.env, ...vars }, stdio: "ignore" });
      child.on("exit", (code) => resolve(code));
    });
  const port = (url: string) => new URL(url).port;

  it("passes when the OTLP port's /readyz is ready (start, collector)", async () => {
    expect(await run({ COGNIVE_OTLP_PORT: port(cognive().otlpUrl), COGNIVE_PORT: "1" })).toBe(0);
  });

  it("falls back to the API port when nothing listens on the OTLP port (query)", async () => {
    const closed = String(await freePort());
    expect(await run({ COGNIVE_OTLP_PORT: closed, COGNIVE_PORT: port(cognive().queryUrl) })).toBe(0);
  });

  it("fails when nothing listens", async () => {
    const [a, b] = [String(await freePort()), String(await freePort())];
    expect(await run({ COGNIVE_OTLP_PORT: a, COGNIVE_PORT: b })).toBe(1);
  });

  it("fails on a /readyz that answers 503, without trying the other port", async () => {
    const notReady = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('{"status":"storage unavailable"}');
    });
    await new Promise<void>((r) => notReady.listen(0, "127.0.0.1", r));
    try {
      const p = String((notReady.address() as AddressInfo).port);
      expect(await run({ COGNIVE_OTLP_PORT: p, COGNIVE_PORT: port(cognive().queryUrl) })).toBe(1);
    } finally {
      notReady.close();
    }
  });
});
