import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import * as sdk from "../src/index.ts";
import { chatCompletion } from "./fixtures.ts";
import { collect, harness } from "./helpers.ts";

describe("nesting", () => {
  it("llmCall and toolCall are children of agentRun across awaits", async () => {
    const h = harness();
    const result = await h.cognive.agentRun("planner", async () => {
      await sleep(5);
      const r = await h.cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => {
        await sleep(2);
        return chatCompletion;
      });
      await new Promise((resolve) => setImmediate(resolve));
      const t = await h.cognive.toolCall(
        "search",
        async () => {
          await sleep(1);
          return "found";
        },
        { callId: "call_1" },
      );
      return `${r.id}/${t}`;
    });
    expect(result).toBe("chatcmpl-abc123/found");
    const spans = await h.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(["chat gpt-4o", "execute_tool search", "invoke_agent planner"]);
    const agent = spans.find((s) => s.name === "invoke_agent planner")!;
    const llm = spans.find((s) => s.name === "chat gpt-4o")!;
    const tool = spans.find((s) => s.name === "execute_tool search")!;
    expect(agent.parentSpanContext).toBeUndefined();
    expect(agent.kind).toBe(SpanKind.INTERNAL);
    expect(agent.attributes).toEqual({ "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner" });
    for (const child of [llm, tool]) {
      expect(child.spanContext().traceId).toBe(agent.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
    }
    expect(tool.attributes).toEqual({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "search",
      "gen_ai.tool.call.id": "call_1",
    });
    expect(tool.kind).toBe(SpanKind.INTERNAL);
  });

  it("concurrent runs keep their own parents", async () => {
    const h = harness();
    const run = (name: string, delay: number) =>
      h.cognive.agentRun(name, async () => {
        await sleep(delay);
        await h.cognive.toolCall(`tool-${name}`, async () => sleep(delay));
      });
    await Promise.all([run("a", 10), run("b", 1)]);
    const spans = await h.spans();
    for (const name of ["a", "b"]) {
      const agent = spans.find((s) => s.name === `invoke_agent ${name}`)!;
      const tool = spans.find((s) => s.name === `execute_tool tool-${name}`)!;
      expect(tool.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
    }
    const a = spans.find((s) => s.name === "invoke_agent a")!;
    const b = spans.find((s) => s.name === "invoke_agent b")!;
    expect(a.spanContext().traceId).not.toBe(b.spanContext().traceId);
  });

  it("the active span inside fn is the SDK's span (sync fn, value returned as is)", async () => {
    const h = harness();
    let inner: string | undefined;
    const v = h.cognive.toolCall("sync", () => {
      inner = trace.getActiveSpan()?.spanContext().spanId;
      return 42;
    });
    expect(v).toBe(42);
    const span = await h.span("execute_tool sync");
    expect(inner).toBe(span.spanContext().spanId);
  });

  it("a stream consumed after the llmCall returned is still a child of the run", async () => {
    const h = harness();
    await h.cognive.agentRun("streamer", async () => {
      const s = await h.cognive.llmCall({ provider: "openai", model: "m" }, async () =>
        (async function* () {
          yield chatCompletion;
        })(),
      );
      await collect(s);
    });
    const spans = await h.spans();
    const agent = spans.find((s) => s.name === "invoke_agent streamer")!;
    expect(spans.find((s) => s.name === "chat m")!.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
  });
});

describe("errors", () => {
  class DomainError extends Error {}

  it("an async throw marks the span ERROR, records the exception and rethrows the same error", async () => {
    const h = harness();
    const err = new DomainError("no such city");
    await expect(
      h.cognive.agentRun("a", async () => {
        await sleep(1);
        throw err;
      }),
    ).rejects.toBe(err);
    const span = await h.span("invoke_agent a");
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "no such city" });
    expect(span.attributes["error.type"]).toBe("DomainError");
    expect(span.events).toHaveLength(1);
    expect(span.events[0].name).toBe("exception");
    expect(span.events[0].attributes?.["exception.message"]).toBe("no such city");
  });

  it("a sync throw is rethrown synchronously", async () => {
    const h = harness();
    const err = new DomainError("sync");
    expect(() =>
      h.cognive.toolCall("t", () => {
        throw err;
      }),
    ).toThrow(err);
    expect((await h.span("execute_tool t")).status.code).toBe(SpanStatusCode.ERROR);
  });

  it("a non-Error rejection propagates unchanged", async () => {
    const h = harness();
    await expect(h.cognive.llmCall({ provider: "openai", model: "m" }, () => Promise.reject("plain"))).rejects.toBe(
      "plain",
    );
    expect((await h.span("chat m")).status).toEqual({ code: SpanStatusCode.ERROR, message: "plain" });
  });

  it("a response whose getters throw never throws into the agent", async () => {
    const h = harness({ captureContent: true });
    const hostile = {
      object: "chat.completion",
      get choices(): unknown {
        throw new Error("getter");
      },
      get usage(): unknown {
        throw new Error("getter");
      },
    };
    const out = await h.cognive.llmCall({ provider: "openai", model: "m" }, async () => hostile);
    expect(out).toBe(hostile);
    const proxy = new Proxy(
      {},
      {
        get() {
          throw new Error("trap");
        },
        has() {
          throw new Error("trap");
        },
      },
    );
    expect(h.cognive.llmCall({ provider: "openai", model: "m" }, () => proxy)).toBe(proxy);
    const chunks = [{ object: "chat.completion.chunk", choices: [hostile] }, hostile];
    expect(
      await collect(
        await h.cognive.llmCall({ provider: "openai", model: "m" }, async () =>
          (async function* () {
            yield* chunks;
          })(),
        ),
      ),
    ).toEqual(chunks);
    const unserialisable: any = { a: 1 };
    unserialisable.self = unserialisable;
    expect(h.cognive.toolCall("t", () => unserialisable, { arguments: unserialisable })).toBe(unserialisable);
    expect((await h.spans()).filter((s) => s.name === "chat m")).toHaveLength(3);
  });

  it("after shutdown, calls still run fn and return its value", async () => {
    const h = harness();
    await h.cognive.shutdown();
    expect(h.cognive.toolCall("late", () => 7)).toBe(7);
    expect(await h.cognive.agentRun("late", async () => 8)).toBe(8);
  });
});

describe("module API and export", () => {
  afterEach(async () => {
    await sdk.shutdown();
  });

  it("before init, the functions just run fn", async () => {
    expect(sdk.toolCall("x", () => 1)).toBe(1);
    expect(await sdk.agentRun("x", async () => 2)).toBe(2);
    expect(await sdk.llmCall({ provider: "openai", model: "m" }, () => Promise.resolve(3))).toBe(3);
  });

  it("init exports OTLP/HTTP to <endpoint>/v1/traces with the bearer key and resource attributes", async () => {
    const requests: { url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        requests.push({ url: req.url, headers: req.headers, body });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      sdk.init({
        serviceName: "svc",
        agent: "support-bot",
        team: "payments",
        environment: "staging",
        endpoint: `http://127.0.0.1:${port}/`,
        apiKey: "ck_secret",
      });
      await sdk.agentRun("support-bot", async () => sdk.toolCall("lookup", () => 1));
      await sdk.flush();
      expect(sdk.stats()).toMatchObject({ exportedSpans: 2, droppedSpans: 0, failedExports: 0 });
      expect(requests).toHaveLength(1);
      expect(requests[0].url).toBe("/v1/traces");
      expect(requests[0].headers.authorization).toBe("Bearer ck_secret");
      const body = JSON.parse(requests[0].body);
      const attrs = Object.fromEntries(
        body.resourceSpans[0].resource.attributes.map((a: any) => [a.key, a.value.stringValue]),
      );
      expect(attrs).toMatchObject({
        "service.name": "svc",
        "gen_ai.agent.name": "support-bot",
        "cognive.team": "payments",
        "deployment.environment.name": "staging",
      });
      const names = body.resourceSpans[0].scopeSpans[0].spans.map((s: any) => s.name).sort();
      expect(names).toEqual(["execute_tool lookup", "invoke_agent support-bot"]);
      await sdk.shutdown();
      expect(sdk.stats().exportedSpans).toBe(2); // still readable after shutdown
      expect(sdk.toolCall("after", () => 3)).toBe(3);
    } finally {
      server.close();
    }
  });
});
