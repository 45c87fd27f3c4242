import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../query/test/helpers/server.ts";
import { FAKE_ANSWER, FAKE_RESPONSE_MODEL, FAKE_USAGE, type FakeLlm, startFakeLlm } from "./fake-llm.ts";
import { EXAMPLES_DIR, exampleEnv, expectOnePricedCall, pythonVenv, run, waitForTrace } from "./helpers.ts";

const SERVICE_NAME = "python-agent-example";
/** In CI every example must run: a missing Python or a failed install fails instead of skipping. */
const REQUIRED = process.env.COGNIVE_REQUIRE_SERVICES === "1";
const PYTHON = process.env.PYTHON || "python3";
const hasPython = spawnSync(PYTHON, ["--version"], { stdio: "ignore" }).status === 0;
if (!hasPython && !REQUIRED) console.warn(`python-agent example: skipped, ${PYTHON} is not available`);

describe.skipIf(!hasPython && !REQUIRED)("python-agent example", () => {
  let venv: string | undefined;
  let unavailable: string | undefined;
  let cognive: TestServer | undefined;
  let llm: FakeLlm | undefined;

  beforeAll(async () => {
    [cognive, llm] = await Promise.all([startTestServer(), startFakeLlm()]);
    const env = await pythonVenv(PYTHON, "python-agent", REQUIRED);
    venv = env.dir;
    unavailable = env.unavailable;
  }, 300_000);

  afterAll(async () => {
    await Promise.all([cognive?.stop(), llm?.stop()]);
    if (venv) rmSync(venv, { recursive: true, force: true, maxRetries: 5 });
  });

  it("sends an invoke_agent span with a chat child in the GenAI conventions, priced from its usage", async (ctx) => {
    if (unavailable) ctx.skip(`the Python environment could not be set up: ${unavailable}`);
    const result = await run(join(venv!, "bin", "python"), [join(EXAMPLES_DIR, "python-agent", "agent.py")], {
      env: exampleEnv(cognive!.otlpUrl, llm!.baseUrl),
      timeoutMs: 30_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(FAKE_ANSWER);
    expect(llm!.requests).toHaveLength(1);

    const trace = await waitForTrace(cognive!.queryUrl, SERVICE_NAME);
    expect(trace.spans).toHaveLength(2);
    const call = expectOnePricedCall(trace, {
      requestModel: "gpt-4o-mini",
      responseModel: FAKE_RESPONSE_MODEL,
      cacheReadTokens: FAKE_USAGE.prompt_tokens_details.cached_tokens,
    });
    expect(call.name).toBe("chat gpt-4o-mini");
    expect(call.kind).toMatch(/client/i);
    expect(call.genAi).toMatchObject({ operation: "chat", provider: "openai", agentName: "support-agent" });

    const agent = trace.spans.find((s: any) => s.name === "invoke_agent support-agent");
    expect(agent).toBeDefined();
    expect(agent.parentSpanId).toBe("");
    expect(call.parentSpanId).toBe(agent.spanId);
    expect(agent.genAi).toMatchObject({ operation: "invoke_agent", agentName: "support-agent" });
    expect(trace.summary.rootName).toBe("invoke_agent support-agent");
  }, 45_000);
});
