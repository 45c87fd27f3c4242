import { describe, expect, it } from "vitest";
import { ConfigError, loadEnvConfig } from "../src/config.ts";

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
    for (const days of ["0", "-3", "1.5", "forever", "99999"]) {
      expect(() => loadEnvConfig({ COGNIVE_METRICS_RETENTION_DAYS: days })).toThrow(/COGNIVE_METRICS_RETENTION_DAYS/);
      expect(() => loadEnvConfig({ COGNIVE_RETENTION_DAYS: days })).toThrow(/COGNIVE_RETENTION_DAYS/);
      expect(() => loadEnvConfig({ COGNIVE_ROLLUP_RETENTION_DAYS: days })).toThrow(/COGNIVE_ROLLUP_RETENTION_DAYS/);
    }
  });

  it("keeps spans and logs 30 days and rollups and alerts 400 unless told otherwise, within what a TTL can say", () => {
    const d = loadEnvConfig({});
    expect([d.COGNIVE_RETENTION_DAYS, d.COGNIVE_ROLLUP_RETENTION_DAYS]).toEqual([30, 400]);
    const c = loadEnvConfig({ COGNIVE_RETENTION_DAYS: "7", COGNIVE_ROLLUP_RETENTION_DAYS: "32" });
    expect([c.COGNIVE_RETENTION_DAYS, c.COGNIVE_ROLLUP_RETENTION_DAYS]).toEqual([7, 32]);
    // 100 years past now is beyond ClickHouse's DateTime: the TTL would wrap round and expire everything.
    for (const name of ["COGNIVE_RETENTION_DAYS", "COGNIVE_ROLLUP_RETENTION_DAYS", "COGNIVE_METRICS_RETENTION_DAYS"]) {
      expect(() => loadEnvConfig({ [name]: "36500" })).toThrow(
        new RegExp(`invalid ${name}="36500": must be at most 20000 days`),
      );
    }
    // This month's budgets are rebuilt from its rollups.
    expect(() => loadEnvConfig({ COGNIVE_ROLLUP_RETENTION_DAYS: "31" })).toThrow(
      /invalid COGNIVE_ROLLUP_RETENTION_DAYS="31": must be at least 32 days/,
    );
  });

  it("keeps metric points 30 days unless COGNIVE_METRICS_RETENTION_DAYS says otherwise", () => {
    expect(loadEnvConfig({}).COGNIVE_METRICS_RETENTION_DAYS).toBe(30);
    expect(loadEnvConfig({ COGNIVE_METRICS_RETENTION_DAYS: "90" }).COGNIVE_METRICS_RETENTION_DAYS).toBe(90);
  });

  it("takes a cluster name only with a server URL, and only a plain name", () => {
    const url = "http://127.0.0.1:8123";
    expect(loadEnvConfig({ CLICKHOUSE_URL: url, COGNIVE_CLUSTER: "c1" }).COGNIVE_CLUSTER).toBe("c1");
    expect(loadEnvConfig({}).COGNIVE_CLUSTER).toBeUndefined();
    expect(() => loadEnvConfig({ COGNIVE_CLUSTER: "c1" })).toThrow(/COGNIVE_CLUSTER needs CLICKHOUSE_URL/);
    for (const bad of ["c1; DROP DATABASE x", "1c", "c-1", "c1 ON CLUSTER c2"])
      expect(() => loadEnvConfig({ CLICKHOUSE_URL: url, COGNIVE_CLUSTER: bad })).toThrow(/invalid COGNIVE_CLUSTER/);
  });
});
