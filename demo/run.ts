/**
 * `npm run demo`: a simulated multi-team agent workload sent through @cognive/sdk to a running
 * Cognive — three agents in two teams, five models of two providers (with prompt caching), tool
 * calls, a failing tool, rate-limited calls that are retried, and one run that overspends.
 * Runs are spread over the past DEMO_DAYS days (their spans dated in the past, the last quarter
 * of them today) so the charts show a week, and every call records its prompt and completion.
 * Start Cognive first with the demo's budgets (`COGNIVE_POLICY=demo/policy.yaml npm start`), then run
 * this in another terminal; on a Cognive without budgets it says so and sends nothing.
 *   COGNIVE_OTLP_URL (default http://127.0.0.1:4318), COGNIVE_API_URL (default http://127.0.0.1:3300),
 *   DEMO_RUNS (default 60), DEMO_DAYS (default 7; 0 sends everything now)
 */
import { BudgetExceededError, createBudget, createCognive } from "@cognive/sdk";
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BackdatingExporter, runOffsetSeconds } from "./backdate.ts";
import {
  type AgentProfile,
  anthropicResponse,
  openaiResponse,
  PROFILES,
  pick,
  requestMessages,
  sleep,
  taskOf,
} from "./workload.ts";

const OTLP = process.env.COGNIVE_OTLP_URL ?? "http://127.0.0.1:4318";
const API = process.env.COGNIVE_API_URL ?? "http://127.0.0.1:3300";
const RUNS = Number(process.env.DEMO_RUNS ?? 60);
const DAYS = Number(process.env.DEMO_DAYS ?? 7);
const START_WITH_POLICY = "COGNIVE_POLICY=demo/policy.yaml npm start";

class RateLimitError extends Error {
  override name = "RateLimitError";
  status = 429;
}

type Client = ReturnType<typeof createCognive>;

/** One agent run: plan with a model, call tools, answer; some calls are rate limited and retried. */
interface RunResult {
  traceId: string;
  /** Steps done before the budget guard stopped the run, when it did. */
  stoppedAfter: number | null;
}

async function run(
  client: Client,
  profile: AgentProfile,
  n: number,
  overspend: boolean,
  backdate: (traceId: string) => void,
): Promise<RunResult> {
  let traceId = "";
  const task = taskOf(profile.agent, n);
  let stoppedAfter: number | null = null;
  // The overspending run asks before every step, without caching, so the guard can stop it mid-run.
  const guard = overspend ? createBudget({ apiUrl: API, agent: profile.agent, cacheMillis: 0 }) : null;
  await client
    .agentRun(profile.agent, async () => {
      traceId = currentTraceId();
      backdate(traceId);
      const steps = overspend ? 12 : 2 + (n % 3);
      for (let step = 0; step < steps; step++) {
        if (guard) {
          await client.flush();
          await sleep(50); // the collector counts spend right after each commit
          try {
            await guard.guard();
          } catch (err) {
            if (!(err instanceof BudgetExceededError)) throw err;
            stoppedAfter = step;
            return;
          }
        }
        const model = overspend ? profile.expensiveModel : pick(profile.models, n + step);
        const lastTool = step > 0 ? pick(profile.tools, n + step - 1) : null;
        const last = step === steps - 1;
        const reply = last ? task.answer : `Calling ${pick(profile.tools, n + step)} next.`;
        for (let attempt = 0; ; attempt++) {
          try {
            const messages = requestMessages(profile, task.ask, step, lastTool);
            await client.llmCall({ provider: model.provider, model: model.id, messages }, async () => {
              await sleep(2 + ((n * 7 + step) % 9));
              if (attempt === 0 && (n + step) % 11 === 5) throw new RateLimitError("429 Too Many Requests");
              const input = overspend ? 180_000 : 800 + ((n * 131 + step * 57) % 4000);
              const output = overspend ? 8_000 : 60 + ((n * 17 + step) % 400);
              const cached = step > 0 ? Math.floor(input * 0.6) : 0;
              return model.provider === "anthropic"
                ? anthropicResponse(
                    model.id,
                    input,
                    output,
                    cached,
                    step === 0 ? Math.min(1024, Math.floor(input / 2)) : 0,
                    reply,
                  )
                : openaiResponse(model.id, input, output, cached, reply);
            });
            break;
          } catch (err) {
            if (!(err instanceof RateLimitError) || attempt >= 2) throw err;
            await sleep(5);
          }
        }
        const tool = pick(profile.tools, n + step);
        await client
          .toolCall(
            tool,
            async () => {
              await sleep(1 + (step % 4));
              if ((n + step) % 13 === 7) throw new Error(`${tool}: upstream timed out`);
              return { ok: true };
            },
            { callId: `call_${n}_${step}`, arguments: { query: task.ask.slice(0, 40), step } },
          )
          .catch(() => undefined); // the agent carries on without the tool
      }
    })
    .catch(() => undefined);
  return { traceId, stoppedAfter };
}

/** The SDK runs fn inside the invoke_agent span's context. */
function currentTraceId(): string {
  return trace.getActiveSpan()?.spanContext().traceId ?? "";
}

function bar(done: number, total: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} runs`;
}

async function main(): Promise<number> {
  try {
    const ready = await fetch(`${OTLP}/readyz`);
    if (!ready.ok) throw new Error(`readyz answered ${ready.status}`);
  } catch (err) {
    process.stderr.write(
      `Cognive is not reachable at ${OTLP} (${(err as Error).message}).\nStart it first: npm start\n`,
    );
    return 1;
  }
  // Without the demo's policy the Budgets and Alerts views would stay empty: say how to start, send nothing.
  const budgets = await fetch(`${API}/api/v1/budgets`).catch(() => null);
  if (budgets?.ok && ((await budgets.json()) as { budgets: unknown[] }).budgets.length === 0) {
    process.stderr.write(
      `Cognive at ${API} has no budgets (it was started without a policy), so Budgets and Alerts would stay empty.\n` +
        `Stop it (Ctrl-C) and start it with the demo's budgets and alert thresholds, then run the demo again:\n\n` +
        `  ${START_WITH_POLICY}\n`,
    );
    return 1;
  }
  // One exporter dates each run's spans back by its offset, so a minute's demo reads as a week.
  const offsets = new Map<string, number>();
  const clients = new Map(
    PROFILES.map((p) => [
      p.agent,
      createCognive({
        serviceName: p.service,
        agent: p.agent,
        team: p.team,
        environment: "demo",
        endpoint: OTLP,
        apiUrl: API,
        scheduledDelayMillis: 100,
        captureContent: true,
        exporter: new BackdatingExporter(new OTLPTraceExporter({ url: `${OTLP}/v1/traces` }), offsets),
      }),
    ]),
  );
  const started = Date.now();
  const traceIds: string[] = [];
  let guardStop: number | null = null;
  const tty = process.stdout.isTTY;
  for (let n = 0; n < RUNS; n++) {
    const profile = PROFILES[n % PROFILES.length];
    const overspend = n === Math.floor(RUNS / 2);
    // The overspending run stays now: the budget guard checks today's spend.
    const offset = overspend ? 0 : runOffsetSeconds(n, RUNS, DAYS);
    const r = await run(clients.get(profile.agent) as Client, profile, n, overspend, (id) => {
      if (offset > 0) offsets.set(id, offset);
    });
    if (r.traceId) traceIds.push(r.traceId);
    if (overspend) guardStop = r.stoppedAfter;
    if (tty) process.stdout.write(`\r${bar(n + 1, RUNS)}`);
    else if ((n + 1) % 10 === 0 || n + 1 === RUNS) process.stdout.write(`${bar(n + 1, RUNS)}\n`);
  }
  if (tty) process.stdout.write("\n");
  await Promise.all([...clients.values()].map((c) => c.shutdown()));

  const byAgent = (await (await fetch(`${API}/api/v1/costs?groupBy=agent`)).json()) as {
    totalUsd: number;
    series: { key: string | null; totalUsd: number; calls: number }[];
  };
  process.stdout.write(
    `\nSent ${RUNS} agent runs${DAYS > 0 ? ` dated over the past ${DAYS} days` : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s.\n\nSpend by agent (last 24 h):\n`,
  );
  for (const s of byAgent.series) {
    process.stdout.write(
      `  ${String(s.key ?? "(none)").padEnd(16)} $${s.totalUsd.toFixed(4).padStart(10)}  ${s.calls} LLM calls\n`,
    );
  }
  process.stdout.write(
    guardStop === null
      ? `\nThe overspending run ran to the end: start Cognive with ${START_WITH_POLICY} to see the budget guard stop it.\n`
      : `\nThe budget guard stopped the overspending run after ${guardStop} of 12 steps.\n`,
  );
  process.stdout.write(
    `\nWhere to look:\n  the UI:          ${API}/\n` +
      `  the overspender: ${API}/#/traces/${traceIds[Math.floor(RUNS / 2)] ?? "<id>"}\n` +
      `  a trace (API):   ${API}/api/v1/traces/${traceIds[0] ?? "<id>"}\n` +
      `  recent traces:   ${API}/api/v1/traces\n` +
      `  cost by team:    ${API}/api/v1/costs?groupBy=team\n` +
      `  cost by model:   ${API}/api/v1/costs?groupBy=model\n` +
      `  budgets:         ${API}/api/v1/budgets\n` +
      `  alerts:          ${API}/api/v1/alerts\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
