import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const PROBE = new URL("../fixtures/string-prototype-probe.mjs", import.meta.url).pathname;

/**
 * A library that subclasses String (`class … extends String`, as ioredis 6.0.0's RESP3 decoder did)
 * leaves String.prototype in V8's dictionary mode for the whole process: charCodeAt, slice and their
 * kind then run several times slower everywhere (the server's span key hashing, TraceQL parsing, the
 * encoders; bench/RESULTS.md 2026-12-05). This loads the server's module graph as `cognive start`
 * does and asks V8 whether String.prototype still has fast properties.
 */
describe("the server's dependencies and V8's string fast paths", () => {
  it("leave String.prototype with fast properties once every client library is loaded", () => {
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", PROBE], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const probe = JSON.parse(r.stdout) as { fast: boolean; loaded: string[] };
    // The probe really loaded the clients a dependency of which could do it.
    expect(probe.loaded).toEqual(expect.arrayContaining(["ioredis", "nats", "@clickhouse/client", "@grpc/grpc-js"]));
    expect(probe.fast).toBe(true);
  });
});
