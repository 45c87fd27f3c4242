import { describe, expect, it } from "vitest";
import { genAiEventContent, genAiEventScore } from "../src/events.ts";

describe("GenAI log events → captured messages", () => {
  it("reads the current event's structured attributes (stored as JSON text)", () => {
    const input = [{ role: "user", parts: [{ type: "text", content: "hi" }] }];
    const c = genAiEventContent(
      "gen_ai.client.inference.operation.details",
      {
        "gen_ai.input.messages": JSON.stringify(input),
        "gen_ai.output.messages": JSON.stringify([{ role: "assistant", parts: [], finish_reason: "stop" }]),
        "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "be kind" }]),
      },
      "",
    );
    expect(c).toEqual({
      input,
      output: [{ role: "assistant", parts: [], finish_reason: "stop" }],
      systemInstructions: [{ type: "text", content: "be kind" }],
    });
  });

  it("normalizes each legacy event's body to {role, parts}", () => {
    expect(genAiEventContent("gen_ai.user.message", {}, '{"content":"hello"}')?.input).toEqual([
      { role: "user", parts: [{ type: "text", content: "hello" }] },
    ]);
    expect(genAiEventContent("gen_ai.system.message", {}, '{"content":[{"type":"text","text":"sys"}]}')?.input).toEqual(
      [{ role: "system", parts: [{ type: "text", content: "sys" }] }],
    );
    expect(
      genAiEventContent(
        "gen_ai.assistant.message",
        {},
        '{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\\"a\\":1}"}}]}',
      )?.input,
    ).toEqual([{ role: "assistant", parts: [{ type: "tool_call", id: "c1", name: "f", arguments: { a: 1 } }] }]);
    expect(genAiEventContent("gen_ai.tool.message", {}, '{"content":"42","id":"c1"}')?.input).toEqual([
      { role: "tool", parts: [{ type: "tool_call_response", id: "c1", response: "42" }] },
    ]);
    expect(
      genAiEventContent("gen_ai.choice", {}, '{"index":0,"finish_reason":"length","message":{"content":"cut"}}')
        ?.output,
    ).toEqual([{ role: "assistant", parts: [{ type: "text", content: "cut" }], finish_reason: "length" }]);
    // A string body (some instrumentations send the text itself).
    expect(genAiEventContent("gen_ai.user.message", {}, "plain text")?.input).toEqual([
      { role: "user", parts: [{ type: "text", content: "plain text" }] },
    ]);
  });

  it("ignores other events and survives hostile values", () => {
    expect(genAiEventContent("app.click", {}, '{"content":"x"}')).toBeNull();
    expect(genAiEventContent("", {}, "")).toBeNull();
    const broken = genAiEventContent(
      "gen_ai.client.inference.operation.details",
      { "gen_ai.input.messages": "[{not json", "gen_ai.output.messages": '{"role":"x"}' },
      "",
    );
    expect(broken).toEqual({ input: [], output: [], systemInstructions: [] });
    expect(genAiEventContent("gen_ai.choice", {}, "[1,2")?.output).toEqual([{ role: "assistant", parts: [] }]);
    expect(
      genAiEventContent(
        "gen_ai.client.inference.operation.details",
        { "gen_ai.input.messages": '[1,"x",null,{"parts":"no"}]' },
        "",
      )?.input,
    ).toEqual([{ role: "unknown", parts: [] }]);
  });

  it("reads evaluation results as scores", () => {
    expect(
      genAiEventScore("gen_ai.evaluation.result", {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.value": "0.25",
        "gen_ai.evaluation.score.label": "fail",
      }),
    ).toEqual({ name: "relevance", value: 0.25, label: "fail", explanation: null });
    expect(
      genAiEventScore("gen_ai.evaluation.result", { "gen_ai.evaluation.score.value": "NaN-ish" })?.value,
    ).toBeNull();
    expect(genAiEventScore("gen_ai.choice", {})).toBeNull();
  });
});
