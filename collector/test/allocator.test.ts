import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CHDB_MALLOC_CONF } from "../src/storage/allocator.ts";

const PROBE = new URL("./fixtures/allocator-probe.ts", import.meta.url).pathname;

interface Probe {
  conf: string | null;
  faultsPerRow: number;
}

function probe(env: Record<string, string | undefined>, setInProcess?: string): Probe {
  const r = spawnSync(process.execPath, ["--import", "tsx", PROBE, ...(setInProcess ? [setInProcess] : [])], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, JE_MALLOC_CONF: undefined, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Probe;
}

/**
 * Embedded chDB's jemalloc reads JE_MALLOC_CONF once, when the library loads; storage sets its
 * defaults before that (storage/allocator.ts). Each probe is a process of its own.
 */
describe("embedded storage's allocator settings", () => {
  it("are storage's defaults unless the operator set them", () => {
    expect(probe({}).conf).toBe(CHDB_MALLOC_CONF);
    expect(probe({ JE_MALLOC_CONF: "dirty_decay_ms:10000" }).conf).toBe("dirty_decay_ms:10000");
  });

  it("reach chDB when set from JavaScript before storage loads, as the defaults are", () => {
    // Freed pages handed back at once (decay 0) are faulted in again by every insert; storage's
    // defaults keep them. Were the variable read before it is set, both would fault alike.
    const immediate = probe({}, "dirty_decay_ms:0");
    const defaults = probe({});
    expect(immediate.conf).toBe("dirty_decay_ms:0");
    expect(immediate.faultsPerRow).toBeGreaterThan(3 * defaults.faultsPerRow);
  });
});
