import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface WebhookHit {
  body: string;
  signature: string | undefined;
}

/** A webhook receiver on loopback that records every POST and answers 200. */
export async function startWebhookReceiver(): Promise<{ url: string; hits: WebhookHit[]; close(): Promise<void> }> {
  const hits: WebhookHit[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      hits.push({ body, signature: req.headers["x-cognive-signature"] as string | undefined });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
