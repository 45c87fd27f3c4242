#!/usr/bin/env node
// The whole check: lint + format, typecheck, every workspace's tests; ends with one summary line.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const reports = join(root, "reports");
rmSync(reports, { recursive: true, force: true });
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" };

function run(cmd, args) {
  process.stdout.write(`\n$ ${cmd} ${args.join(" ")}\n`);
  return spawnSync(cmd, args, { cwd: root, stdio: "inherit", env }).status ?? 1;
}

let failed = 0;
failed |= run("npx", ["biome", "ci", "."]);
failed |= run("npx", ["turbo", "run", "typecheck", "test", "--concurrency=1", "--continue", "--log-order=stream"]);

let passed = 0;
let failedTests = 0;
let skipped = 0;
if (existsSync(reports)) {
  for (const f of readdirSync(reports).filter((n) => n.endsWith(".json"))) {
    const r = JSON.parse(readFileSync(join(reports, f), "utf8"));
    passed += r.numPassedTests ?? 0;
    failedTests += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A test file that failed to load counts no test; count it as a failure.
    failedTests += (r.testResults ?? []).filter(
      (t) => t.status === "failed" && (t.assertionResults ?? []).length === 0,
    ).length;
  }
}
if (failedTests > 0) failed = 1;
process.stdout.write(`\n${passed} passed, ${failedTests} failed, ${skipped} skipped\n`);
process.exit(failed ? 1 : 0);
