import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REQUIRE_SERVICES } from "../../../collector/test/support/services.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";
import { CALLS_PER_TRACE, expectStoredOnce, makeWorkload, POLICY, send, sendUntilAcknowledged } from "./workload.ts";

const mountPoint = mkdtempSync(join(tmpdir(), "cognive-full-"));

/** A small tmpfs for the data directory, so the disk can really fill up (needs root, as in CI). */
function mountSmallDisk(): string | null {
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=96m", "tmpfs", mountPoint], { encoding: "utf8" });
  if (r.status === 0) return null;
  const msg = `cannot mount a tmpfs (${(r.stderr || r.error?.message || "").trim()}): skipping the full-disk test (run as root; CI does)`;
  process.stderr.write(`${msg}\n`);
  return msg;
}

const skip = process.platform !== "linux" ? "full-disk test needs Linux tmpfs" : mountSmallDisk();
if (skip && REQUIRE_SERVICES) throw new Error(skip);

/** Fills the filesystem up to the last byte with one file. */
function fill(path: string): void {
  const chunk = Buffer.alloc(1 << 20, 1);
  const fd = openSync(path, "w");
  try {
    for (;;) writeSync(fd, chunk);
  } catch {
    /* ENOSPC: full */
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(skip)("a full disk", () => {
  afterAll(() => {
    spawnSync("umount", ["-l", mountPoint]); // lazy: a process still holding it must not fail the suite
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it("answers 503 only while full, stores nothing half, and recovers without a restart", async () => {
    const dir = join(mountPoint, "cognive");
    mkdirSync(dir);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    const env = {
      COGNIVE_DATA_DIR: join(dir, "data"),
      COGNIVE_OTLP_PORT: String(await freePort()),
      COGNIVE_PORT: String(await freePort()),
      COGNIVE_POLICY: join(dir, "policy.yaml"),
    };
    const otlp = `http://127.0.0.1:${env.COGNIVE_OTLP_PORT}`;
    const api = `http://127.0.0.1:${env.COGNIVE_PORT}`;
    const proc = await spawnCognive(env);
    try {
      const before = makeWorkload(10, 30);
      await sendUntilAcknowledged(otlp, before);
      const filler = join(mountPoint, "filler");
      fill(filler);
      const work = makeWorkload(40, 31);
      const answers = await send(otlp, work, 4);
      const statuses = answers.map((a) => (a instanceof Error ? 0 : a.status));
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect((await fetch(`${otlp}/readyz`)).status).toBe(503);
      // Nothing half-stored: a trace is absent, or whole with a summary that agrees.
      for (const w of work) {
        const t = await getJson(`${api}/api/v1/traces/${w.traceId}`);
        if (t.status === 404) continue;
        expect(t.body.spans).toHaveLength(CALLS_PER_TRACE + 1);
        expect(t.body.summary.spanCount).toBe(CALLS_PER_TRACE + 1);
      }
      rmSync(filler);
      const deadline = Date.now() + 20_000;
      while ((await fetch(`${otlp}/readyz`)).status !== 200) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 200));
      }
      await sendUntilAcknowledged(otlp, work);
      await expectStoredOnce(api, [...before, ...work], { budget: true });
    } finally {
      await stopProcess(proc);
    }
  }, 180_000);
});
