import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "@cognive/collector";
import { afterAll, describe, expect, it } from "vitest";
import { postRaw } from "../helpers/http.ts";
import { freePort } from "../helpers/process.ts";

const BIN = new URL("../../bin/cognive.js", import.meta.url).pathname;

describe("keys never reach the logs", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-secrets-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

  it("logs no key at debug level through start, key management, use, misuse, revocation and stop", async () => {
    const admin = generateKey().key;
    const ports = { otlp: await freePort(), grpc: await freePort(), query: await freePort() };
    const child = spawn(process.execPath, [BIN, "start"], {
      env: {
        ...process.env,
        COGNIVE_LOG_LEVEL: "debug",
        COGNIVE_DATA_DIR: join(dir, "data"),
        COGNIVE_OTLP_PORT: String(ports.otlp),
        COGNIVE_GRPC_PORT: String(ports.grpc),
        COGNIVE_PORT: String(ports.query),
        COGNIVE_AUTH: "required",
        COGNIVE_ADMIN_KEY: admin,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    const api = `http://127.0.0.1:${ports.query}`;
    try {
      const deadline = Date.now() + 60_000;
      while (
        !(await fetch(`${api}/readyz`)
          .then((r) => r.ok)
          .catch(() => false))
      ) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 200));
      }
      const created = await (
        await fetch(`${api}/api/v1/keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "ingest", role: "ingest", teams: ["alpha"] }),
        })
      ).json();
      const key: string = created.key;
      const otlp = (authorization: string) =>
        postRaw(`http://127.0.0.1:${ports.otlp}/v1/traces`, Buffer.from('{"resourceSpans":[]}'), {
          "content-type": "application/json",
          authorization,
        });
      expect((await otlp(`Bearer ${key}`)).status).toBe(200);
      const wrong = `${key.slice(0, -1)}x`;
      for (let i = 0; i < 25; i++) await otlp(`Bearer ${wrong}`); // a burst of failures is audited, by address
      await fetch(`${api}/api/v1/traces`, { headers: { authorization: `Bearer ${key}` } }); // wrong role
      await fetch(`${api}/api/v1/keys/${created.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${admin}` },
      });
      expect((await otlp(`Bearer ${key}`)).status).toBe(401);
      expect(output).toContain("query API listening"); // the logs were captured
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    expect(output.length).toBeGreaterThan(0);
    expect(output).not.toContain(admin);
    expect(output).not.toContain("cgv_");
  }, 90_000);

  it("does not repeat a bad admin key back in the configuration error", () => {
    const secret = "short-secret-value";
    const r = spawnSync(process.execPath, [BIN, "start"], {
      env: { ...process.env, COGNIVE_ADMIN_KEY: secret, COGNIVE_DATA_DIR: join(dir, "unused") },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/COGNIVE_ADMIN_KEY=\(hidden\)/);
    expect(r.stderr + r.stdout).not.toContain(secret);
  });
});
