import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { calcPrice } from "@pydantic/genai-prices";
import { expect } from "vitest";
import { FAKE_USAGE } from "./fake-llm.ts";

/** The examples folder. */
export const EXAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killing it after `timeoutMs`), capturing its output. */
export function run(
  command: string,
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs: number; echo?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? EXAMPLES_DIR,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (opts.echo) process.stdout.write(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (opts.echo) process.stderr.write(d);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} timed out after ${opts.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, opts.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a TypeScript example as a user would with tsx: `node --import tsx <file>`. */
export function runTsExample(file: string, env: Record<string, string>): Promise<RunResult> {
  return run(process.execPath, ["--import", "tsx", join(EXAMPLES_DIR, file)], { env, timeoutMs: 30_000 });
}

/** Environment that keeps an example on loopback: Cognive's collector and the fake LLM. */
export function exampleEnv(otlpUrl: string, llmBaseUrl: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
    COGNIVE_OTLP_URL: otlpUrl,
    OPENAI_BASE_URL: llmBaseUrl,
    OPENAI_API_KEY: "sk-test-not-a-real-key",
    OTEL_SERVICE_NAME: "",
    OTEL_RESOURCE_ATTRIBUTES: "",
    OTEL_SDK_DISABLED: "",
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
  };
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} → ${res.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Polls the query API until a trace of `service` is listed (the collector answers an export only
 * after the spans are committed, so this is normally immediate) and returns its detail.
 */
export async function waitForTrace(queryUrl: string, service: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await getJson(`${queryUrl}/api/v1/traces?service=${encodeURIComponent(service)}`);
    if (list.traces.length > 0) {
      expect(list.traces).toHaveLength(1);
      return getJson(`${queryUrl}/api/v1/traces/${list.traces[0].traceId}`);
    }
    if (Date.now() > deadline) throw new Error(`no trace of service ${service} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What @pydantic/genai-prices says the fake LLM's usage costs for `model` at OpenAI, to the nano-dollar Cognive stores. */
export function expectedCost(model: string, cacheReadTokens: number | undefined): number {
  const price = calcPrice(
    {
      input_tokens: FAKE_USAGE.prompt_tokens,
      output_tokens: FAKE_USAGE.completion_tokens,
      ...(cacheReadTokens !== undefined ? { cache_read_tokens: cacheReadTokens } : {}),
    },
    model,
    { providerId: "openai" },
  );
  if (!price) throw new Error(`genai-prices has no price for ${model}`);
  return Math.round(price.total_price * 1e9) / 1e9;
}

/** The trace's model-call spans (the leaf LLM calls Cognive prices and sums). */
export function modelCalls(trace: any): any[] {
  return trace.spans.filter((s: any) => s.genAi.usageRole === "model_call");
}

/** Asserts the single LLM call of `trace` carries the fake LLM's usage and the genai-prices cost. */
export function expectOnePricedCall(
  trace: any,
  want: { requestModel: string; responseModel: string; cacheReadTokens: number | null },
): any {
  const calls = modelCalls(trace);
  expect(calls).toHaveLength(1);
  const call = calls[0];
  expect(call.genAi).toMatchObject({
    requestModel: want.requestModel,
    responseModel: want.responseModel,
    inputTokens: FAKE_USAGE.prompt_tokens,
    outputTokens: FAKE_USAGE.completion_tokens,
    cacheReadTokens: want.cacheReadTokens,
    priced: true,
  });
  const cost = expectedCost(want.responseModel, want.cacheReadTokens ?? undefined);
  expect(call.genAi.costUsd).toBeCloseTo(cost, 12);
  // The summary counts the call once, whatever aggregate spans sit above it.
  expect(trace.summary.inputTokens).toBe(FAKE_USAGE.prompt_tokens);
  expect(trace.summary.outputTokens).toBe(FAKE_USAGE.completion_tokens);
  expect(trace.summary.costUsd).toBeCloseTo(cost, 12);
  return call;
}

/**
 * A virtual environment with an example's requirements installed from PyPI, in a temporary folder:
 * the venv's python, or the reason it could not be set up (which fails the run when `required`).
 */
export async function pythonVenv(
  python: string,
  example: string,
  required: boolean,
): Promise<{ dir: string; python?: string; unavailable?: string }> {
  const dir = mkdtempSync(join(tmpdir(), `cognive-${example}-`));
  try {
    console.log(`${example} example: creating a venv in ${dir}`);
    const made = await run(python, ["-m", "venv", dir], { timeoutMs: 60_000 });
    if (made.code !== 0) throw new Error(`${python} -m venv failed: ${made.stderr}`);
    console.log(`${example} example: pip install -r ${example}/requirements.txt …`);
    const started = Date.now();
    const requirements = join(EXAMPLES_DIR, example, "requirements.txt");
    const pip = await run(
      join(dir, "bin", "python"),
      ["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "-r", requirements],
      { timeoutMs: 180_000, echo: true },
    );
    if (pip.code !== 0) throw new Error(`pip install failed (exit ${pip.code}): ${pip.stderr}`);
    console.log(`${example} example: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { dir, python: join(dir, "bin", "python") };
  } catch (err) {
    if (required) throw err;
    console.warn(`${example} example: skipped, the Python environment could not be set up: ${String(err)}`);
    return { dir, unavailable: String(err) };
  }
}
