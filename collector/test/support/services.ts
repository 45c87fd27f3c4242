import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";

/**
 * Real Redis and NATS servers for tests, each started on its own loopback port so a test can stop
 * and restart it (fault tests). When a server binary is missing the test is skipped with a message,
 * unless COGNIVE_REQUIRE_SERVICES=1 (as in CI), where that is a failure.
 */
export const REQUIRE_SERVICES = process.env.COGNIVE_REQUIRE_SERVICES === "1";

export function haveBinary(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).status === 0;
}

/** `describe.skipIf` reason: null when the binary exists (or is required, so a missing one fails). */
export function missingService(binary: string, aptPackage = binary): string | null {
  if (haveBinary(binary) || REQUIRE_SERVICES) return null;
  const msg = `${binary} not installed: skipping (apt-get install -y ${aptPackage}; CI sets COGNIVE_REQUIRE_SERVICES=1)`;
  process.stderr.write(`${msg}\n`);
  return msg;
}

/** The lowest port the kernel hands out for outgoing connections (Linux's default when unreadable). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Whether a server can listen on the port on loopback right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A port free on loopback right now, below the kernel's ephemeral range: a port the OS picks for a
 * listener comes from that range, where any outgoing connection (a test's client, the browser) may
 * take it before the server under test binds it.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = Math.max(low + 1000, ephemeralLow());
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${low} and ${high}`);
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = createConnection({ host: "127.0.0.1", port }, () => {
        sock.end();
        resolve();
      });
      sock.on("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export interface Service {
  port: number;
  url: string;
  /** Stops the server (SIGTERM, then waits for the exit). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

function service(binary: string, args: (port: number) => string[], url: (port: number) => string) {
  return async (): Promise<Service> => {
    const port = await freePort();
    let child: ChildProcess | null = null;
    const svc: Service = {
      port,
      url: url(port),
      async start() {
        child = spawn(binary, args(port), { stdio: "ignore" });
        child.on("error", () => {});
        await waitForPort(port, 10_000);
      },
      async stop() {
        const c = child;
        child = null;
        if (!c || c.exitCode !== null) return;
        await new Promise<void>((resolve) => {
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
        });
      },
    };
    await svc.start();
    return svc;
  };
}

export const startRedis = service(
  "redis-server",
  (port) => ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
  (port) => `redis://127.0.0.1:${port}`,
);

export const startNats = service(
  "nats-server",
  (port) => ["-a", "127.0.0.1", "-p", String(port)],
  (port) => `nats://127.0.0.1:${port}`,
);
