import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

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

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export { freePort, spawnCognive, stopProcess } from "../query/test/helpers/process.ts";
