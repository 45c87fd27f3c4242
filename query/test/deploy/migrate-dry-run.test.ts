import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { migrationPlan, renderPlan } from "@cognive/collector";
import { describe, expect, it } from "vitest";

// Regenerate the golden file after a schema change: UPDATE_GOLDEN=1 npx vitest run test/deploy/migrate-dry-run.test.ts
const BIN = new URL("../../bin/cognive.js", import.meta.url).pathname;
const GOLDEN = new URL("../fixtures/migrate-cluster-c1.sql", import.meta.url).pathname;

// No storage is opened: the data dir does not exist and CLICKHOUSE_URL points nowhere reachable.
const env = {
  ...process.env,
  COGNIVE_DATABASE: "cognive",
  COGNIVE_DATA_DIR: "/nonexistent/cognive-dry-run",
  CLICKHOUSE_URL: "",
  COGNIVE_LOG_LEVEL: "warn",
};
const cli = (...args: string[]) => cliWith({}, ...args);
const cliWith = (extra: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [BIN, "migrate", ...args], {
    env: { ...env, ...extra },
    encoding: "utf8",
    timeout: 60_000,
  });

describe("cognive migrate --dry-run", { timeout: 60_000 }, () => {
  it("prints the cluster DDL for --cluster c1, equal to the golden file", () => {
    const run = cli("--dry-run", "--cluster", "c1");
    expect(run.status, run.stderr).toBe(0);
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, run.stdout);
    expect(run.stdout).toBe(readFileSync(GOLDEN, "utf8"));
    for (const s of ["ON CLUSTER c1", "ReplicatedMergeTree(", "ReplicatedSummingMergeTree(", "Distributed(c1", "TTL"])
      expect(run.stdout).toContain(s);
    expect(run.stdout).toContain("-- migration 12:");
  });

  it("prints the single-node statements migrate() runs, numbered by version, without touching storage", () => {
    const run = cli("--dry-run");
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(renderPlan(migrationPlan(), "cognive"));
    expect(run.stdout).not.toContain("ON CLUSTER");
    expect(run.stdout).toMatch(/-- migration 1: [^\n]+\nCREATE TABLE IF NOT EXISTS cognive\.otel_traces \(/);
  });

  it("refuses a hostile or missing cluster name and unknown arguments, printing why", () => {
    for (const args of [
      ["--dry-run", "--cluster", "c1; DROP DATABASE cognive"],
      ["--dry-run", "--cluster"],
      ["--dry-run", "--force"],
    ]) {
      const run = cli(...args);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/invalid cluster name|unknown or incomplete argument/);
    }
    const embedded = cli("--cluster", "c1");
    expect(embedded.status).toBe(1);
    expect(embedded.stderr).toContain("migrate --cluster needs CLICKHOUSE_URL");
  });

  it("takes the cluster from COGNIVE_CLUSTER, which needs CLICKHOUSE_URL and a plain name", () => {
    // Port 9 on loopback: nothing is dialled by a dry run.
    const server = { CLICKHOUSE_URL: "http://127.0.0.1:9", COGNIVE_CLUSTER: "c1" };
    const run = cliWith(server, "--dry-run");
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(readFileSync(GOLDEN, "utf8"));
    expect(cliWith(server, "--dry-run", "--cluster", "c2").stdout).toContain("ON CLUSTER c2");

    const embedded = cliWith({ COGNIVE_CLUSTER: "c1" }, "--dry-run");
    expect(embedded.status).toBe(1);
    expect(embedded.stderr).toContain("COGNIVE_CLUSTER needs CLICKHOUSE_URL");
    const hostile = cliWith({ ...server, COGNIVE_CLUSTER: "c1 ON CLUSTER x" }, "--dry-run");
    expect(hostile.status).toBe(1);
    expect(hostile.stderr).toMatch(/invalid COGNIVE_CLUSTER="c1 ON CLUSTER x"/);
  });
});
