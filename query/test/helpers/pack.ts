import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/**
 * Shared by the pack tests (@cognive/sdk, @cognive/ui): `npm pack` workspaces, install the tarballs into
 * an empty project outside the repository, and run tools there as a user would.
 */
export const REQUIRE_SERVICES = process.env.COGNIVE_REQUIRE_SERVICES === "1";
export const REPO = new URL("../../..", import.meta.url).pathname;
export const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");

export function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 240_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** `npm pack` of a workspace (its prepack builds it) into `dest`: the tarball and the files it holds. */
export function pack(workspace: string, dest: string): { file: string; files: string[] } {
  const r = spawnSync("npm", ["pack", "--json", "--pack-destination", dest], {
    cwd: join(REPO, workspace),
    encoding: "utf8",
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`npm pack ${workspace} failed:\n${r.stdout}${r.stderr}`);
  const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf("[")));
  return { file: join(dest, info.filename), files: info.files.map((f: { path: string }) => f.path) };
}

/**
 * A new project `app` under `dir` with `deps` installed: the npm cache first (no network), the registry
 * only for what the cache lacks. Returns the directory, or a reason to skip when neither answers
 * (under COGNIVE_REQUIRE_SERVICES=1, CI, that is a failure instead).
 */
export function installApp(dir: string, deps: string[]): { app: string; skipReason: string | null } {
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, version: "1.0.0" }));
  const common = ["install", "--no-audit", "--no-fund", "--loglevel=error"];
  let r = run("npm", [...common, "--offline", ...deps], app);
  if (r.status !== 0) r = run("npm", [...common, "--prefer-offline", ...deps], app);
  if (r.status === 0) return { app, skipReason: null };
  if (REQUIRE_SERVICES) throw new Error(`npm install of the packed tarballs failed:\n${r.out}`);
  const skipReason = "npm install of the tarballs' dependencies failed (no npm cache or registry): skipping";
  process.stderr.write(`${skipReason}\n${r.out}\n`);
  return { app, skipReason };
}

/** `tsc --strict` in nodenext mode over `files` in `cwd`, plus any extra flags. */
export function tscStrict(cwd: string, files: string[], extra: string[] = []) {
  return run(
    process.execPath,
    [TSC, "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--noEmit", ...extra, ...files],
    cwd,
  );
}
