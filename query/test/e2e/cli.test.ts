import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(new URL("../..", import.meta.url).pathname, "bin/cognive.js");

function cognive(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Each case starts a process that loads the sources through tsx: seconds on a loaded machine.
describe("cognive CLI", { timeout: 60_000 }, () => {
  it("prints usage for help", () => {
    const r = cognive(["help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/start\s+collector \+ query API/);
    expect(r.out).toMatch(/migrate/);
  });

  it("refuses an unknown command with usage and exit code 2", () => {
    const r = cognive(["serve"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "serve"/);
  });

  it("stops at start-up on a bad setting and names the variable", () => {
    const r = cognive(["start"], { COGNIVE_OTLP_PORT: "not-a-port" });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/COGNIVE_OTLP_PORT/);
  });

  it("explains that separate collector and query processes need a ClickHouse server", () => {
    const r = cognive(["collector"], { CLICKHOUSE_URL: "" });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/needs CLICKHOUSE_URL/);
  });

  it("stops on a policy file with a bad key and names it", () => {
    const r = cognive(["start"], {
      COGNIVE_POLICY: "/nonexistent/policy.yaml",
      COGNIVE_OTLP_PORT: "0",
      COGNIVE_PORT: "0",
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/COGNIVE_POLICY: cannot read \/nonexistent\/policy.yaml/);
  });
});
