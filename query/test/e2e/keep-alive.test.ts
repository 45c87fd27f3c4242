import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/server.ts";

const server = useTestServer();

/** The Keep-Alive header of a GET over a keep-alive connection. */
function keepAliveOf(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: "keep-alive" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(String(res.headers["keep-alive"])));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("idle keep-alive connections", () => {
  it("stay open over a minute on the OTLP and the query port, beyond what exporters and Node's fetch keep them", async () => {
    for (const base of [server().otlpUrl, server().queryUrl]) {
      expect(await keepAliveOf(`${base}/readyz`)).toBe("timeout=65");
    }
  });
});
