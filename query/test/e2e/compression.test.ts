import { describe, expect, it } from "vitest";
import {
  bombs,
  COLLECTOR_ENCODINGS,
  collectorBody,
  FIXTURE_SPANS,
  FIXTURE_TRACE_ID,
} from "../../../collector/test/support/bombs.ts";
import { postRaw } from "../helpers/http.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

// 1 MiB: every bomb below inflates to 16 MiB or more, the Collector's bodies to 77 KB.
const server = useTestServer({ COGNIVE_MAX_BODY_BYTES: String(1024 * 1024) });
const PROTO_CT = { "content-type": "application/x-protobuf" };
const post = (body: Buffer, encoding: string) =>
  postRaw(`${server().otlpUrl}/v1/traces`, body, { ...PROTO_CT, "content-encoding": encoding });

describe("POST /v1/traces with every Content-Encoding the OpenTelemetry Collector sends", () => {
  it.each(COLLECTOR_ENCODINGS)("stores the Collector's %s body", async (encoding) => {
    const res = await post(collectorBody(encoding), encoding);
    expect(res.status).toBe(200);
    const trace = await getJson(`${server().queryUrl}/api/v1/traces/${FIXTURE_TRACE_ID}`);
    expect(trace.body.spans).toHaveLength(FIXTURE_SPANS);
  });

  it.each(Object.entries(bombs(64)))("answers a %s bomb 413 and keeps serving", async (name, bomb) => {
    const res = await post(bomb, name === "raw deflate" ? "deflate" : name);
    expect(res.status).toBe(413);
    expect((await post(collectorBody("none"), "identity")).status).toBe(200);
  });

  it.each(COLLECTOR_ENCODINGS)("answers a truncated %s body 400", async (encoding) => {
    const body = collectorBody(encoding);
    const res = await post(body.subarray(0, Math.floor(body.length / 2)), encoding);
    expect(res.status).toBe(400);
  });

  it("answers an unknown encoding 415 naming the ones accepted", async () => {
    const res = await post(collectorBody("none"), "br");
    expect(res.status).toBe(415);
    expect(res.body.toString("latin1")).toMatch(/unsupported Content-Encoding "br".*zstd/);
  });
});
