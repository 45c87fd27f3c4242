import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { missingService } from "../../../collector/test/support/services.ts";
import { postRaw } from "../helpers/http.ts";
import { useTestServer } from "../helpers/server.ts";

const skip = missingService("promtool");

/** A real Prometheus client: Debian's promtool, querying the Prometheus-compatible API. */
describe.skipIf(skip)("promtool against the Prometheus API", () => {
  const server = useTestServer();

  /** `calls` model calls of 1 s each, or one call per entry of `durationsMs`; a response model when given. */
  async function ingest(model: string, calls: number, durationsMs: number[] = [], responseModel?: string) {
    const traceId = randomBytes(16).toString("hex");
    const now = BigInt(Date.now()) * 1_000_000n;
    const endOf = (i: number) =>
      now - 120_000_000_000n + (i < durationsMs.length ? BigInt(durationsMs[i]) * 1_000_000n : 1_000_000_000n);
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "promtool-test" } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: calls }, (_, i) => ({
                traceId,
                spanId: (i + 1).toString(16).padStart(16, "0"),
                name: `chat ${model}`,
                kind: 3,
                startTimeUnixNano: String(now - 120_000_000_000n),
                endTimeUnixNano: String(endOf(i)),
                attributes: [
                  { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                  { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
                  { key: "gen_ai.request.model", value: { stringValue: model } },
                  ...(responseModel ? [{ key: "gen_ai.response.model", value: { stringValue: responseModel } }] : []),
                  { key: "gen_ai.usage.input_tokens", value: { intValue: "1000" } },
                  { key: "gen_ai.usage.output_tokens", value: { intValue: "100" } },
                ],
              })),
            },
          ],
        },
      ],
    };
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, Buffer.from(JSON.stringify(body)), {
      "content-type": "application/json",
    });
    expect(res.status).toBe(200);
  }

  // Asynchronous: the server answering promtool runs in this very process.
  async function promtool(args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)("promtool", args, { encoding: "utf8", timeout: 30_000 });
    return stdout;
  }

  it("answers instant and range queries", async () => {
    await ingest("gpt-4o", 3);
    await ingest("gpt-4o-mini", 2);
    const url = server().queryUrl;

    const instant = await promtool([
      "query",
      "instant",
      url,
      "sum by (gen_ai_request_model) (increase(cognive_llm_calls_total[10m]))",
    ]);
    expect(instant).toMatch(/\{gen_ai_request_model="gpt-4o"\} => 3 @\[/);
    expect(instant).toMatch(/\{gen_ai_request_model="gpt-4o-mini"\} => 2 @\[/);

    const end = Math.floor(Date.now() / 1000 / 60) * 60 + 60;
    const range = await promtool([
      "query",
      "range",
      `--start=${end - 600}`,
      `--end=${end}`,
      "--step=60s",
      url,
      "sum(increase(cognive_llm_calls_total[10m]))",
    ]);
    // the last point's 10-minute window holds all five calls
    expect(range).toMatch(/\{\} =>/);
    expect(range.trim().split("\n").at(-1)).toMatch(/^5 @\[/);
  });

  it("answers histogram_quantile over the duration histogram", async () => {
    // 15, 15, 30 and 50 ms: the median is the top of (0.01, 0.02]; the 95th percentile is
    // interpolated in (0.04, 0.08], which holds the last call: 0.04 + 0.04 × (3.8 − 3) = 0.072.
    await ingest("hist-model", 4, [15, 15, 30, 50]);
    const url = server().queryUrl;
    const quantile = async (phi: number) => {
      const out = await promtool([
        "query",
        "instant",
        url,
        `histogram_quantile(${phi}, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="hist-model"}[10m])))`,
      ]);
      const m = /^\{\} => (\S+) @\[/.exec(out.trim());
      expect(m, out).not.toBeNull();
      return Number(m?.[1]);
    };
    expect(await quantile(0.5)).toBeCloseTo(0.02, 9);
    expect(await quantile(0.95)).toBeCloseTo(0.072, 9);
  });

  it("runs label_replace and absent, and splits no request model by its response model", async () => {
    await ingest("fn-model", 2, [], "fn-model-2024-08-06");
    await ingest("fn-model", 1);
    const url = server().queryUrl;
    const replaced = await promtool([
      "query",
      "instant",
      url,
      'label_replace(sum by (gen_ai_request_model) (increase(cognive_llm_calls_total{gen_ai_request_model="fn-model"}[10m])), "family", "$1", "gen_ai_request_model", "([a-z]+)-.*")',
    ]);
    expect(replaced.trim()).toMatch(/^\{family="fn", gen_ai_request_model="fn-model"\} => 3 @\[/);
    const byResponse = await promtool([
      "query",
      "instant",
      url,
      'sum by (gen_ai_response_model) (increase(cognive_llm_calls_total{gen_ai_request_model="fn-model"}[10m]))',
    ]);
    expect(byResponse).toMatch(/\{gen_ai_response_model="fn-model-2024-08-06"\} => 2 @\[/);
    expect(byResponse).toMatch(/^\{\} => 1 @\[/m);
    const absent = await promtool(["query", "instant", url, 'absent(cognive_llm_calls_total{agent="nobody"})']);
    expect(absent.trim()).toMatch(/^\{agent="nobody"\} => 1 @\[/);
    const present = await promtool([
      "query",
      "instant",
      url,
      'absent(cognive_llm_calls_total{gen_ai_request_model="fn-model"})',
    ]);
    expect(present.trim()).toBe("");
  });

  it("gets a parse error for an unknown function", async () => {
    await expect(promtool(["query", "instant", server().queryUrl, "nope(cognive_llm_calls_total)"])).rejects.toThrow(
      /bad_data|unknown function/,
    );
  });

  it("queries a stored OTLP metric by its Prometheus name, and lists its series", async () => {
    const t = `${Math.floor(Date.now() / 1000) - 60}000000000`;
    const metrics = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "promtool-otlp" } }] },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "agent.tool.calls",
                  unit: "{call}",
                  sum: {
                    isMonotonic: true,
                    aggregationTemporality: 1,
                    dataPoints: [
                      {
                        timeUnixNano: t,
                        asInt: "4",
                        attributes: [{ key: "tool.name", value: { stringValue: "search" } }],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postRaw(`${server().otlpUrl}/v1/metrics`, Buffer.from(JSON.stringify(metrics)), {
      "content-type": "application/json",
    });
    expect(res.status).toBe(200);
    const url = server().queryUrl;
    const instant = await promtool([
      "query",
      "instant",
      url,
      "sum by (tool_name) (increase(agent_tool_calls_total[10m]))",
    ]);
    expect(instant).toMatch(/\{tool_name="search"\} => 4 @\[/);
    const series = await promtool(["query", "series", url, "--match=agent_tool_calls_total"]);
    expect(series).toMatch(/cognive_source="otlp_metrics"/);
    expect(series).toMatch(/service_name="promtool-otlp"/);
  });
});
