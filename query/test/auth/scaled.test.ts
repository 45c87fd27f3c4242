import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingService, type Service, startRedis } from "../../../collector/test/support/services.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";

const ADMIN = generateKey().key;
const skip = missingService("redis-server");

describe.skipIf(skip)("keys and rate limits across two processes sharing Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-auth-scaled-"));
  let redis: Service;
  const procs: { proc: ChildProcess; api: string }[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const env = {
        COGNIVE_DATA_DIR: join(dir, `data-${i}`),
        COGNIVE_OTLP_PORT: String(await freePort()),
        COGNIVE_PORT: String(await freePort()),
        COGNIVE_AUTH: "required",
        COGNIVE_ADMIN_KEY: ADMIN,
        REDIS_URL: redis.url,
      };
      procs.push({ proc: await spawnCognive(env), api: `http://127.0.0.1:${env.COGNIVE_PORT}` });
    }
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) await stopProcess(p.proc);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  const whoami = (api: string, key: string) =>
    fetch(`${api}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });

  /** Polls (bounded by `ms`) until `status` is answered; returns the last status seen. */
  async function until(api: string, key: string, status: number, ms: number): Promise<number> {
    const deadline = Date.now() + ms;
    let last = 0;
    do {
      last = (await whoami(api, key)).status;
      if (last === status) return last;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    return last;
  }

  it("a key made on one process works on the other, and its revocation is refused by both within 2 s", async () => {
    const [a, b] = procs;
    const res = await fetch(`${a.api}/api/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "shared", role: "viewer", teams: ["alpha"] }),
    });
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(await until(b.api, created.key, 200, 2000)).toBe(200);
    const del = await fetch(`${a.api}/api/v1/keys/${created.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(del.status).toBe(204);
    expect((await whoami(a.api, created.key)).status).toBe(401);
    expect(await until(b.api, created.key, 401, 2000)).toBe(401);
  });

  it("holds one rate limit for both processes together", async () => {
    const [a, b] = procs;
    const created = await (
      await fetch(`${a.api}/api/v1/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: "limited",
          role: "viewer",
          teams: ["alpha"],
          rateLimit: { requestsPerSecond: 5 },
        }),
      })
    ).json();
    expect(await until(b.api, created.key, 200, 2000)).toBe(200);
    await new Promise((r) => setTimeout(r, 1100)); // a full bucket again
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => whoami((i % 2 ? a : b).api, created.key)));
    const ok = answers.filter((r) => r.status === 200).length;
    // Five tokens, plus what refills while the burst runs: far fewer than the 2 × 5 two separate limits would pass.
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(8);
    expect(answers.filter((r) => r.status === 429).length).toBe(40 - ok);
  });
});
