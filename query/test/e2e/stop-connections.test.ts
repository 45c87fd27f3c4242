import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { startTestServer } from "../helpers/server.ts";

// Its own file: a process holds one embedded store, and this test needs a server of its own to stop.
describe("a graceful stop", () => {
  it("closes a connection whose export was refused mid-body, not after the keep-alive timeout", async () => {
    // A minute of grace: without closing answered connections, the stop would wait all of it.
    const own = await startTestServer({ COGNIVE_SHUTDOWN_TIMEOUT_SECONDS: "60", COGNIVE_MAX_BODY_BYTES: "1048576" });
    const { port } = new URL(own.otlpUrl);
    const socket = connect(Number(port), "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    let answer = "";
    const answered = new Promise<void>((resolve) =>
      socket.on("data", (d) => {
        answer += d.toString();
        if (answer.includes("\r\n\r\n")) resolve();
      }),
    );
    // Chunked, past the 1 MiB limit: refused while the body is still coming, and its end never comes.
    socket.write(
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 8; i++)
      socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]));
    await answered;
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    await own.stop();
    await closed;
    expect(socket.destroyed || socket.readableEnded).toBe(true);
  }, 30_000);
});
