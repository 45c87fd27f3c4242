import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;

/** Facts about the machine a figure was measured on. */
export function machine() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Peak resident memory of a process (VmHWM) in MiB, for processes that are still running. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

/** The cognive node process under the bin wrapper (tsx runs the CLI in a grandchild). */
export function serverPids(rootPid: number): number[] {
  const out: number[] = [rootPid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, "utf8").trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** User and system CPU seconds in a `/proc/…/stat` line (after the name, which may hold spaces). */
function statTimes(stat: string): { user: number; system: number } {
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/** User + system CPU seconds in such a line. */
function statCpuSeconds(stat: string): number {
  const t = statTimes(stat);
  return t.user + t.system;
}

/** CPU seconds (user + system) of a process tree so far. */
export function cpuSeconds(pids: number[]): number {
  let seconds = 0;
  for (const pid of pids) {
    try {
      seconds += statCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      /* gone */
    }
  }
  return seconds;
}

export interface ThreadCpu {
  name: string;
  seconds: number;
  system: number;
  /** Seconds it was ready to run but waited for a core (`schedstat`; 0 where the kernel keeps none). */
  waiting: number;
}

/** Seconds a thread has waited on a run queue so far, from its `schedstat` (run ns, wait ns, slices). */
function runQueueWaitSeconds(task: string): number {
  try {
    const wait = Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[1]);
    return Number.isFinite(wait) ? wait / 1e9 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds of each live thread of the processes (`system`: of them in the kernel), by thread id, with the thread's name. */
export function threadCpu(pids: number[]): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const task = `/proc/${pid}/task/${tid}`;
        const stat = readFileSync(`${task}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        // Threads that never name themselves (some of the store's) carry the process's name too.
        const name = tid === String(pid) ? "main thread" : comm;
        const { user, system } = statTimes(stat);
        out.set(`${pid}/${tid}`, { name, seconds: user + system, system, waiting: runQueueWaitSeconds(task) });
      } catch {
        /* ended */
      }
    }
  }
  return out;
}

/**
 * CPU seconds spent between two `threadCpu` samples, by thread name (a pool's threads share one):
 * where the time went, e.g. the JavaScript main thread against the store's insert and merge pools.
 * `total` is the processes' whole CPU over the same time; what ended threads spent is `(ended)`.
 */
export function cpuByThreadName(
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
  total: number,
): Record<string, number> {
  const byName = spentByThreadName(before, after, (t) => t.seconds);
  const counted = Object.values(byName).reduce((a, b) => a + b, 0);
  if (total - counted > 0.005) byName["(ended)"] = total - counted;
  return largestFirst(byName);
}

/** The kernel's share of `cpuByThreadName`: system CPU seconds by thread name (writes, page faults, waits). */
export function systemByThreadName(
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
): Record<string, number> {
  return largestFirst(spentByThreadName(before, after, (t) => t.system));
}

/** Seconds threads waited for a core between two `threadCpu` samples, by thread name: on a busy machine, a latency's tail. */
export function waitingByThreadName(
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
): Record<string, number> {
  return largestFirst(spentByThreadName(before, after, (t) => t.waiting));
}

/** What `of` grew by between two samples, summed by thread name (threads that spent nothing left out). */
function spentByThreadName(
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
  of: (t: ThreadCpu) => number,
): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const [id, t] of after) {
    const was = before.get(id);
    const spent = of(t) - (was === undefined ? 0 : of(was));
    if (spent > 0) byName[t.name] = (byName[t.name] ?? 0) + spent;
  }
  return byName;
}

const largestFirst = (byName: Record<string, number>) =>
  Object.fromEntries(Object.entries(byName).sort((a, b) => b[1] - a[1]));

/** Seconds spread over `count` (spans, requests), in units of 1/`scale` s (1e6: µs, 1e3: ms), to `decimals` places. */
export function perEach(seconds: number, count: number, scale: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(((seconds * scale) / count) * f) / f;
}

/** `perEach` of each figure of a by-thread-name record (largest first), the largest `top` of them. */
export function perEachByName(
  byName: Record<string, number>,
  count: number,
  scale: number,
  decimals: number,
  top = Number.POSITIVE_INFINITY,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(byName)
      .slice(0, top)
      .map(([name, s]) => [name, perEach(s, count, scale, decimals)]),
  );
}

/** Figures by thread name as one line, the largest `top` of them: "ThreadPool 10.3, main thread 3.1". */
export function namedFigures(byName: Record<string, number>, top = Number.POSITIVE_INFINITY): string {
  return Object.entries(byName)
    .slice(0, top)
    .map(([name, v]) => `${name} ${v}`)
    .join(", ");
}

/**
 * Embedded storage's own time counters (`system.events`, the whole process's since it started):
 * every event measured in time, as seconds. chDB ships without symbols, so a profiler cannot say
 * where its threads go; these say how much went to merges, their stages, skip indexes, statistics.
 */
export async function storageTimeEvents(query: (sql: string) => Promise<string>): Promise<Map<string, number>> {
  const text = await query(
    `SELECT event, value FROM system.events WHERE match(event, '(Micro|Milli)seconds$') FORMAT TabSeparated`,
  );
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [event, value] = line.split("\t");
    if (event) out.set(event, Number(value) / (event.endsWith("Milliseconds") ? 1e3 : 1e6));
  }
  return out;
}

/** What each time event grew by between two `storageTimeEvents`, in seconds, largest first. */
export function storageTimeSpent(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const [event, seconds] of after) {
    const spent = seconds - (before.get(event) ?? 0);
    if (spent > 0) byName[event] = spent;
  }
  return largestFirst(byName);
}

/** The 1-minute load average now: every figure on a shared machine is printed beside it. */
export function loadAverage(): number {
  return Math.round(loadavg()[0] * 100) / 100;
}

/** The machine's CPU time counters (USER_HZ ticks) from /proc/stat: all of it, and what the hypervisor stole. */
function cpuTicks(): { total: number; steal: number } | null {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return null;
  }
}

/**
 * Starts measuring the share of CPU time the hypervisor took from this VM (steal); the returned
 * function gives it in %, or null where /proc/stat is missing. A latency tail measured while a
 * neighbour steals 10-20 % of the CPU is the neighbour's, not ours: printed beside each measure.
 */
export function stealMeter(): () => number | null {
  const start = cpuTicks();
  return () => {
    const end = cpuTicks();
    if (!start || !end || end.total <= start.total) return null;
    return Math.round(((end.steal - start.steal) / (end.total - start.total)) * 1000) / 10;
  };
}

export interface MachineJitter {
  /** The task's duration alone, ms. */
  taskMs: { p50: number; p99: number; max: number };
  /** Runs slowed by more than 10 ms, per minute. */
  pausesPerMinute: number;
}

/**
 * The machine's own latency tail: a CPU-only task of a few ms (hashing 3 MiB, no I/O, no allocation
 * to speak of) run back to back for `seconds`. On a VM the host slows a vCPU now and then (here: one
 * at a time, 20-30 ms about every 1.5 s, with no steal reported), and every request that overlaps such
 * a pause carries it: a measure's p99 is then the machine's as much as ours. Printed beside the measures.
 */
export function machineJitter(seconds = 10): MachineJitter {
  const block = Buffer.alloc(1 << 20, 7);
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    for (let i = 0; i < 3; i++) createHash("sha256").update(block).digest();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    taskMs: { p50: round(p50), p99: round(percentile(times, 99)), max: round(times[times.length - 1]) },
    pausesPerMinute: round((times.filter((t) => t > p50 + 10).length / seconds) * 60),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export {
  freePort,
  metricValue,
  metricZero,
  spawnCognive,
  stopProcess,
  walDrained,
} from "../query/test/helpers/process.ts";

/** Prints a two-column table ending with the machine, and writes the result as JSON under bench/out. */
export function report(
  name: string,
  rows: [string, string][],
  result: { date: string; machine: ReturnType<typeof machine> },
): string {
  const m = result.machine;
  const all: [string, string][] = [
    ...rows,
    ["machine", `${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}`],
  ];
  const w = Math.max(...all.map((r) => r[0].length));
  process.stdout.write(`\n${all.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n")}\n`);
  const outDir = join(ROOT, "bench", "out");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${name}-${result.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${file}\n`);
  return file;
}

/** Node's flags that write a process's CPU profile to `dir` when it exits; none without a dir. */
export function cpuProfArgs(dir: string | undefined): string[] {
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}
