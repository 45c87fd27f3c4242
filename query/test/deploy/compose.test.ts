import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { envSchema, loadEnvConfig } from "@cognive/collector";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { missingService } from "../../../collector/test/support/services.ts";

/**
 * compose.yaml's invariants, read from the file itself, then the file run through a real compose
 * validator (`docker compose config`, or Debian's `docker-compose` as CI installs it). No Docker engine
 * is needed or used: nothing is built or started.
 */

const ROOT = new URL("../../../", import.meta.url).pathname;
const COMPOSE_FILE = join(ROOT, "compose.yaml");
const DEFAULTS = loadEnvConfig({});
const SCHEMA_KEYS = new Set(Object.keys(envSchema.shape));
const ADMIN_KEY = "a".repeat(64);

interface Service {
  image?: string;
  command?: string[];
  restart?: string;
  environment?: Record<string, string | number>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  /** Short form as written; compose v2 prints the long form. */
  ports?: Array<string | { target: number | string; published?: number | string }>;
  volumes?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

// The file shares settings through YAML anchors and merge keys, as compose reads them.
const raw = readFileSync(COMPOSE_FILE, "utf8");
const file = parse(raw, { merge: true }) as Compose;

/** Services that run the Cognive image, by role. */
function cogniveServices(c: Compose): Array<[string, Service]> {
  return Object.entries(c.services).filter(([, s]) =>
    ["migrate", "collector", "query", "start"].includes(s.command?.[0] ?? ""),
  );
}
function byRole(c: Compose, role: string): Array<[string, Service]> {
  return cogniveServices(c).filter(([, s]) => s.command?.[0] === role);
}
/** Container ports published, each on the same host port. */
function publishedPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => {
    const [published, target] =
      typeof p === "string" ? [p.split(":").at(-2), p.split(":").at(-1)] : [p.published, p.target];
    expect(Number(published)).toBe(Number(target));
    return Number(target);
  });
}

/** The invariants, checked on the file as written and again on the validator's resolved output. */
function checkInvariants(c: Compose): void {
  const migrate = byRole(c, "migrate");
  expect(migrate.map(([name]) => name)).toEqual(["migrate"]);
  expect(migrate[0][1].restart).toBe("no");

  // Every long-running service has a healthcheck; only the one-shot migrate has none.
  for (const [name, s] of Object.entries(c.services)) {
    if (name === "migrate") continue;
    expect(s.healthcheck?.test, `${name} healthcheck`).toBeTruthy();
    expect(s.healthcheck?.disable, `${name} healthcheck disabled`).not.toBe(true);
  }

  const collectors = byRole(c, "collector");
  const queries = byRole(c, "query");
  expect(collectors).toHaveLength(2);
  expect(queries).toHaveLength(1);
  for (const [name, s] of [...collectors, ...queries]) {
    expect(s.depends_on?.migrate?.condition, name).toBe("service_completed_successfully");
    expect(s.depends_on?.clickhouse?.condition, name).toBe("service_healthy");
    // Scaled mode: every process reaches the same ClickHouse, Redis and NATS; keys required.
    expect(Object.keys(s.environment ?? {})).toEqual(
      expect.arrayContaining(["CLICKHOUSE_URL", "REDIS_URL", "NATS_URL", "COGNIVE_ADMIN_KEY"]),
    );
    expect(s.environment?.COGNIVE_AUTH, name).toBe("required");
    // The image's healthcheck script, which exists.
    expect(String(s.healthcheck?.test)).toContain("deploy/docker/healthcheck.mjs");
  }
  expect(migrate[0][1].depends_on?.clickhouse?.condition).toBe("service_healthy");
  expect(existsSync(join(ROOT, "deploy/docker/healthcheck.mjs"))).toBe(true);

  // Only names Cognive's configuration knows: a typo would be silently ignored at run time.
  for (const [name, s] of cogniveServices(c)) {
    for (const key of Object.keys(s.environment ?? {})) {
      expect(SCHEMA_KEYS.has(key), `${name}: ${key} is not in collector/src/config.ts`).toBe(true);
    }
    // The defaults the healthcheck, the balancer and the published ports assume.
    for (const port of ["COGNIVE_OTLP_PORT", "COGNIVE_GRPC_PORT", "COGNIVE_PORT"]) {
      expect(s.environment?.[port], `${name} overrides ${port}`).toBeUndefined();
    }
  }
  expect(queries.flatMap(([, s]) => publishedPorts(s))).toEqual([DEFAULTS.COGNIVE_PORT]);
  // Collectors are reached through the balancer only.
  for (const [name, s] of collectors) expect(s.ports, name).toBeUndefined();

  const lb = Object.entries(c.services).filter(([, s]) => s.image?.startsWith("nginx:"));
  expect(lb).toHaveLength(1);
  expect(publishedPorts(lb[0][1]).sort()).toEqual([DEFAULTS.COGNIVE_GRPC_PORT, DEFAULTS.COGNIVE_OTLP_PORT].sort());
  for (const [name] of collectors) expect(lb[0][1].depends_on?.[name]?.condition).toBe("service_healthy");

  // Grafana: the repository's provisioning, pointed at the query service by name and port.
  const grafana = Object.values(c.services).find((s) => s.image?.startsWith("grafana/grafana:"));
  expect(grafana?.environment?.COGNIVE_URL).toBe(`http://${queries[0][0]}:${DEFAULTS.COGNIVE_PORT}`);
  expect(grafana?.volumes?.some((v) => /deploy\/grafana\/provisioning:\/etc\/grafana\/provisioning/.test(v))).toBe(
    true,
  );

  // Images pinned to a version, never a floating tag.
  for (const [name, s] of Object.entries(c.services)) {
    if (cogniveServices(c).some(([n]) => n === name)) continue;
    expect(s.image, name).toMatch(/:[0-9][^:]*$/);
  }

  // Data lives in named volumes, declared at the top level.
  const declared = Object.keys(c.volumes ?? {});
  const chVolumes = c.services.clickhouse?.volumes ?? [];
  expect(chVolumes.some((v) => /^[a-z][a-z0-9_-]*:\/var\/lib\/clickhouse/.test(v))).toBe(true);
  for (const [name, s] of Object.entries(c.services)) {
    for (const v of s.volumes ?? []) {
      const source = v.split(":")[0];
      if (source.startsWith(".") || source.startsWith("/")) continue;
      expect(declared, `${name} uses volume ${source}`).toContain(source);
    }
  }
}

describe("compose.yaml as written", () => {
  it("holds the deployment's invariants", () => {
    checkInvariants(file);
  });

  it("requires the admin key and the other secrets, with a message saying how to set them", () => {
    for (const name of ["COGNIVE_ADMIN_KEY", "CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]) {
      expect(raw).toMatch(new RegExp(`\\$\\{${name}:\\?set ${name}`));
    }
    expect(raw).not.toMatch(/COGNIVE_ADMIN_KEY:-/);
  });

  it("mounts files that exist", () => {
    for (const [name, s] of Object.entries(file.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(":")[0];
        if (source.startsWith(".")) expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it("balances OTLP/HTTP and OTLP/gRPC (HTTP/2) over both collectors", () => {
    const conf = readFileSync(join(ROOT, "deploy/compose/nginx.conf"), "utf8");
    const collectors = byRole(file, "collector").map(([name]) => name);
    for (const name of collectors) {
      expect(conf).toContain(`server ${name}:${DEFAULTS.COGNIVE_OTLP_PORT} resolve;`);
      expect(conf).toContain(`server ${name}:${DEFAULTS.COGNIVE_GRPC_PORT} resolve;`);
    }
    expect(conf).toContain(`listen ${DEFAULTS.COGNIVE_OTLP_PORT};`);
    expect(conf).toMatch(new RegExp(`listen ${DEFAULTS.COGNIVE_GRPC_PORT};\\s+http2 on;`));
    expect(conf).toMatch(/grpc_pass grpc:\/\//);
    // Not below the collector's own body limit, so large batches reach it (and its 413).
    const mib = Number(/client_max_body_size (\d+)m;/.exec(conf)?.[1]);
    expect(mib * 1024 * 1024).toBeGreaterThanOrEqual(DEFAULTS.COGNIVE_MAX_BODY_BYTES);
  });

  it("gives Grafana's provisioning the variables it reads", () => {
    const ds = readFileSync(join(ROOT, "deploy/grafana/provisioning/datasources/cognive.yaml"), "utf8");
    const grafana = Object.values(file.services).find((s) => s.image?.startsWith("grafana/grafana:"));
    for (const [, name] of ds.matchAll(/\$\{([A-Z_]+)\}/g)) {
      expect(Object.keys(grafana?.environment ?? {}), name).toContain(name);
    }
  });
});

/** The compose validator on this machine: the Docker CLI plugin, else Debian's docker-compose. */
function composeCommand(): string[] | null {
  if (spawnSync("docker", ["compose", "version"], { encoding: "utf8" }).status === 0) return ["docker", "compose"];
  if (missingService("docker-compose") === null) return ["docker-compose"];
  return null;
}
const compose = composeCommand();

/** `compose config` with only the given variables (a developer's own .env is not read). */
function composeConfig(vars: Record<string, string>) {
  const [cmd, ...pre] = compose ?? ["docker-compose"];
  const envDir = mkdtempSync(join(tmpdir(), "cognive-compose-"));
  const envFile = join(envDir, "env");
  writeFileSync(envFile, "");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(COGNIVE_|CLICKHOUSE_|GRAFANA_|COMPOSE_)/.test(k)) env[k] = v;
  }
  const r = spawnSync(cmd, [...pre, "--env-file", envFile, "--project-directory", ROOT, "-f", COMPOSE_FILE, "config"], {
    encoding: "utf8",
    env: { ...env, ...vars },
  });
  rmSync(envDir, { recursive: true, force: true });
  if (r.error) throw new Error(`the compose validator (${cmd}) did not run: ${r.error.message}`);
  return r;
}

const SECRETS = { COGNIVE_ADMIN_KEY: ADMIN_KEY, CLICKHOUSE_PASSWORD: "b".repeat(48), GRAFANA_ADMIN_PASSWORD: "c" };

describe.skipIf(compose === null)("compose.yaml through `compose config`", () => {
  it("validates, and the resolved file holds the same invariants", () => {
    const r = composeConfig(SECRETS);
    expect(r.stderr).not.toMatch(/error|invalid/i);
    expect(r.status).toBe(0);
    checkInvariants(parse(r.stdout) as Compose);
  });

  it("resolves each Cognive service's environment to a configuration Cognive accepts", () => {
    const resolved = parse(composeConfig(SECRETS).stdout) as Compose;
    for (const [name, s] of cogniveServices(resolved)) {
      const vars = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
      const config = loadEnvConfig(vars);
      expect(config.COGNIVE_ADMIN_KEY, name).toBe(ADMIN_KEY);
      expect(new URL(config.CLICKHOUSE_URL ?? "").hostname, name).toBe("clickhouse");
      expect(new URL(config.CLICKHOUSE_URL ?? "").password, name).toBe(SECRETS.CLICKHOUSE_PASSWORD);
    }
  });

  it("refuses to resolve without COGNIVE_ADMIN_KEY, naming it", () => {
    const { COGNIVE_ADMIN_KEY: _, ...rest } = SECRETS;
    const r = composeConfig(rest);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("set COGNIVE_ADMIN_KEY");
  });
});
