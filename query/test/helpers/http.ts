import { request } from "node:http";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Posts with node:http so a test controls framing (chunked or not) and still reads an early
 * answer such as 413 while the body is being sent.
 */
export function postRaw(
  url: string,
  body: Buffer | Buffer[],
  headers: Record<string, string>,
  opts: { chunked?: boolean } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const parts = Array.isArray(body) ? body : [body];
    const total = parts.reduce((a, b) => a + b.length, 0);
    const req = request(url, {
      method: "POST",
      headers: opts.chunked ? headers : { ...headers, "content-length": String(total) },
    });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      for (const p of parts) {
        if (answered || req.destroyed) break;
        if (!req.write(p)) await new Promise<void>((r) => req.once("drain", () => r()));
      }
      if (!req.destroyed) req.end();
    })().catch(() => {});
  });
}
