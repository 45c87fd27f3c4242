import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, generateKey } from "@cognive/collector";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";

const BIN = new URL("../../bin/cognive.js", import.meta.url).pathname;

describe("cognive keys and cognive audit verify", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-audit-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

  it("manages keys from the command line, and verify exits 1 naming the entry edited in storage", async () => {
    const admin = generateKey().key;
    const env = {
      ...process.env,
      COGNIVE_DATA_DIR: join(dir, "data"),
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_AUTH: "required",
      COGNIVE_ADMIN_KEY: admin,
      COGNIVE_INSTANCE: "cli-test",
      COGNIVE_LOG_LEVEL: "warn",
    };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8", timeout: 60_000 });
    const proc = await spawnCognive(env as Record<string, string>);
    let keyId = "";
    try {
      const created = cli("keys", "create", "--name", "cli-viewer", "--role", "viewer", "--teams", "alpha,beta");
      expect(created.status, created.stderr).toBe(0);
      const key = created.stdout.trim();
      expect(key).toMatch(/^cgv_/);
      keyId = /created (key_\w+)/.exec(created.stderr)?.[1] ?? "";
      const who = await fetch(`http://127.0.0.1:${env.COGNIVE_PORT}/api/v1/whoami`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(await who.json()).toMatchObject({ name: "cli-viewer", teams: ["alpha", "beta"] });
      const list = cli("keys", "list");
      expect(list.stdout).toContain(keyId);
      expect(list.stdout).not.toContain(key);
      expect(cli("keys", "revoke", keyId).status).toBe(0);
      expect(cli("keys", "create", "--name", "x", "--role", "ingest", "--teams", "a,b").status).toBe(1);
      const viaServer = cli("audit", "verify", "--url", `http://127.0.0.1:${env.COGNIVE_PORT}`);
      expect(viaServer.status, viaServer.stderr).toBe(0);
      expect(viaServer.stdout).toMatch(/audit log intact: 4 entries in 1 chain/);
    } finally {
      await stopProcess(proc);
    }
    // With the embedded server stopped, verify reads storage itself.
    expect(cli("audit", "verify").status).toBe(0);
    const storage = createStorage({ dataDir: env.COGNIVE_DATA_DIR, database: "cognive" });
    try {
      await storage.client.command({
        query: `ALTER TABLE cognive.audit_log UPDATE ActorName = 'someone' WHERE Action = 'key.revoke' SETTINGS mutations_sync = 2`,
      });
    } finally {
      await storage.close();
    }
    const broken = cli("audit", "verify");
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/audit log BROKEN at chain cli-test, entry 4 .*edited/);
  }, 120_000);
});
