import { parseArgs } from "node:util";
import { createStorage, type EnvConfig, storageConfig, verifyAudit } from "@cognive/collector";

/**
 * `cognive keys …` and `cognive audit verify`: the admin API from a terminal. Keys are managed through
 * the running server (so every process sees the change); the admin key comes from COGNIVE_ADMIN_KEY.
 */
export const ADMIN_USAGE = `  keys create --name N --role ingest|viewer|admin --teams a,b|all [--expires ISO] [--rps N] [--spans-per-second N]
              create a key and print it (shown this once)
  keys list   list keys (never their secrets)
  keys revoke ID
              revoke a key at once in every process
  audit verify
              check the audit log's hash chains; exits 1 naming the first broken entry
              (reads storage directly: stop an embedded server first, or pass --url to ask the server)
  Options of keys and audit: --url http://host:port (default: COGNIVE_HOST and COGNIVE_PORT)`;

type Out = { out: (s: string) => void; err: (s: string) => void };

function baseUrl(config: EnvConfig, url: string | undefined): string {
  return (
    url ??
    `http://${config.COGNIVE_HOST.includes(":") ? `[${config.COGNIVE_HOST}]` : config.COGNIVE_HOST}:${config.COGNIVE_PORT}`
  ).replace(/\/$/, "");
}

async function call(
  config: EnvConfig,
  url: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  if (config.COGNIVE_ADMIN_KEY) headers.authorization = `Bearer ${config.COGNIVE_ADMIN_KEY}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${baseUrl(config, url)}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function failure(io: Out, r: { status: number; json: any }): number {
  io.err(`cognive: ${r.status} ${r.json?.error?.message ?? JSON.stringify(r.json)}\n`);
  return 1;
}

export async function keysCommand(argv: string[], config: EnvConfig, io: Out): Promise<number> {
  const sub = argv[0];
  const { values, positionals } = parseArgs({
    args: argv.slice(1),
    allowPositionals: true,
    options: {
      url: { type: "string" },
      name: { type: "string" },
      role: { type: "string" },
      teams: { type: "string" },
      expires: { type: "string" },
      rps: { type: "string" },
      "spans-per-second": { type: "string" },
    },
  });
  if (sub === "create") {
    if (!values.name || !values.role || !values.teams) {
      io.err("cognive keys create needs --name, --role and --teams\n");
      return 2;
    }
    const rps = values.rps === undefined ? undefined : Number(values.rps);
    const sps = values["spans-per-second"] === undefined ? undefined : Number(values["spans-per-second"]);
    const r = await call(config, values.url, "POST", "/api/v1/keys", {
      name: values.name,
      role: values.role,
      teams: values.teams === "all" ? "all" : values.teams.split(",").map((t) => t.trim()),
      expiresAt: values.expires,
      rateLimit: rps === undefined ? undefined : { requestsPerSecond: rps, spansPerSecond: sps },
    });
    if (r.status !== 201) return failure(io, r);
    io.out(`${r.json.key}\n`);
    io.err(
      `created ${r.json.id} (${r.json.role}, teams: ${r.json.teams === "all" ? "all" : r.json.teams.join(",")}); the key above is shown this once\n`,
    );
    return 0;
  }
  if (sub === "list") {
    const r = await call(config, values.url, "GET", "/api/v1/keys");
    if (r.status !== 200) return failure(io, r);
    io.out(`${["ID", "NAME", "ROLE", "TEAMS", "CREATED", "EXPIRES", "REVOKED", "LAST USED"].join("\t")}\n`);
    for (const k of r.json.keys) {
      const teams = k.teams === "all" ? "all" : k.teams.join(",");
      io.out(
        `${[k.id, k.name, k.role, teams, k.createdAt, k.expiresAt ?? "-", k.revokedAt ?? "-", k.lastUsedAt ?? "-"].join("\t")}\n`,
      );
    }
    return 0;
  }
  if (sub === "revoke") {
    const id = positionals[0];
    if (!id) {
      io.err("cognive keys revoke needs a key id (see cognive keys list)\n");
      return 2;
    }
    const r = await call(config, values.url, "DELETE", `/api/v1/keys/${encodeURIComponent(id)}`);
    if (r.status !== 204) return failure(io, r);
    io.err(`revoked ${id}\n`);
    return 0;
  }
  io.err(`unknown keys command "${sub ?? ""}"; use create, list or revoke\n`);
  return 2;
}

export async function auditCommand(argv: string[], config: EnvConfig, io: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: "string" } },
  });
  if (positionals[0] !== "verify") {
    io.err(`unknown audit command "${positionals[0] ?? ""}"; use verify\n`);
    return 2;
  }
  let result: Awaited<ReturnType<typeof verifyAudit>>;
  if (values.url) {
    const r = await call(config, values.url, "GET", "/api/v1/audit/verify");
    if (r.status !== 200) return failure(io, r);
    result = r.json;
  } else {
    const storage = createStorage(storageConfig(config));
    try {
      result = await verifyAudit(storage);
    } finally {
      await storage.close();
    }
  }
  if (result.ok) {
    io.out(`audit log intact: ${result.entries} entries in ${result.chains} chain(s)\n`);
    return 0;
  }
  const b = result.broken as NonNullable<typeof result.broken>;
  io.out(`audit log BROKEN at chain ${b.chain}, entry ${b.seq} (id ${b.id}): ${b.reason}\n`);
  return 1;
}
