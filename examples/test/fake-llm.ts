import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The model the fake server reports when a request does not name one. */
export const FAKE_RESPONSE_MODEL = "gpt-4o-mini-2024-07-18";
/** Fixed usage on every answer: 1234 prompt tokens (200 of them read from cache), 56 completion tokens. */
export const FAKE_USAGE = {
  prompt_tokens: 1234,
  completion_tokens: 56,
  total_tokens: 1290,
  prompt_tokens_details: { cached_tokens: 200, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
};
export const FAKE_ANSWER = "Hello from the fake LLM.";

export interface FakeLlm {
  /** e.g. `http://127.0.0.1:PORT/v1` — what OpenAI clients take as their base URL. */
  baseUrl: string;
  /** Request bodies received on the chat completions route, in order. */
  requests: any[];
  stop(): Promise<void>;
}

/**
 * A local OpenAI-compatible server on 127.0.0.1 (ephemeral port) answering
 * `POST /v1/chat/completions` and `POST /chat/completions` with a fixed completion and fixed usage.
 * `stream: true` is answered with server-sent events ending in a usage chunk.
 * The answer's `model` is {@link FAKE_RESPONSE_MODEL} whatever the request asks for, as OpenAI
 * answers a dated snapshot for an alias.
 */
export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: any[] = [];
  const server = createServer((req, res) => {
    handle(req, res, requests).catch((err) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(err) } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, requests: any[]): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "POST" || (path !== "/v1/chat/completions" && path !== "/chat/completions")) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: "not_found" } }));
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  requests.push(body);
  const id = "chatcmpl-fake0001";
  const created = Math.floor(Date.now() / 1000);
  if (body.stream) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const base = { id, object: "chat.completion.chunk", created, model: FAKE_RESPONSE_MODEL };
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
    send({ ...base, choices: [{ index: 0, delta: { content: FAKE_ANSWER }, finish_reason: null }] });
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    send({ ...base, choices: [], usage: FAKE_USAGE });
    res.end("data: [DONE]\n\n");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      id,
      object: "chat.completion",
      created,
      model: FAKE_RESPONSE_MODEL,
      system_fingerprint: "fp_fake",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: FAKE_ANSWER, refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: FAKE_USAGE,
    }),
  );
}
