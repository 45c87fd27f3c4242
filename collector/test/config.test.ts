import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, loadEnvConfig } from "../src/config.ts";
import { parsePolicy } from "../src/policy.ts";

describe("environment configuration", () => {
  it("has working defaults", () => {
    const c = loadEnvConfig({});
    expect(c.COGNIVE_HOST).toBe("127.0.0.1");
    expect(c.COGNIVE_OTLP_PORT).toBe(4318);
    expect(c.COGNIVE_PORT).toBe(3300);
    expect(c.COGNIVE_DATA_DIR).toBe("./data");
    expect(c.CLICKHOUSE_URL).toBeUndefined();
  });

  it("names the variable that is wrong", () => {
    expect(() => loadEnvConfig({ COGNIVE_PORT: "eighty" })).toThrow(/COGNIVE_PORT/);
    expect(() => loadEnvConfig({ COGNIVE_OTLP_PORT: "70000" })).toThrow(/COGNIVE_OTLP_PORT/);
    expect(() => loadEnvConfig({ CLICKHOUSE_URL: "not a url" })).toThrow(/CLICKHOUSE_URL/);
    expect(() => loadEnvConfig({ COGNIVE_DATABASE: "x; DROP TABLE y" })).toThrow(/COGNIVE_DATABASE/);
    expect(() => loadEnvConfig({ COGNIVE_LOG_LEVEL: "loud" })).toThrow(ConfigError);
  });
});

describe("policy file", () => {
  it("reads the shipped example", () => {
    const text = readFileSync(new URL("../../deploy/policy.example.yaml", import.meta.url), "utf8");
    const p = parsePolicy(text);
    expect(p.priceOverrides).toHaveLength(1);
    expect(p.priceOverrides[0]).toMatchObject({ match: "^acme-ft-", provider: "openai", input_per_mtok: 3 });
  });

  it("names the offending key", () => {
    expect(() =>
      parsePolicy("pricing:\n  overrides:\n    - { match: 'x', input_per_mtok: -1, output_per_mtok: 1 }\n"),
    ).toThrow(/pricing\.overrides\.0\.input_per_mtok/);
    expect(() =>
      parsePolicy("pricing:\n  overrides:\n    - { match: '(', input_per_mtok: 1, output_per_mtok: 1 }\n"),
    ).toThrow(/pricing\.overrides\.0\.match.*regular expression/);
    expect(() => parsePolicy("pricing:\n  overides: []\n")).toThrow(/overides|pricing/);
    expect(() => parsePolicy("pricing: [\n")).toThrow(/not valid YAML/);
  });

  it("accepts an empty file", () => {
    expect(parsePolicy("").priceOverrides).toEqual([]);
  });
});
