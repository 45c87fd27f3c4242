import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEnvConfig, silentLogger } from "@cognive/collector";
import { afterAll, beforeAll } from "vitest";
import { type Running, startCognive } from "../../src/server.ts";
import { FIXTURE_ENV } from "./process.ts";

export interface TestServer {
  running: Running;
  otlpUrl: string;
  /** OTLP/gRPC endpoint as exporters take it: `http://127.0.0.1:<port>`. */
  grpcUrl: string;
  queryUrl: string;
  dataDir: string;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** A real all-in-one Cognive on loopback with ephemeral ports and embedded storage. */
export async function startTestServer(env: Record<string, string> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "cognive-test-"));
  const config = loadEnvConfig({
    COGNIVE_HOST: "127.0.0.1",
    COGNIVE_OTLP_PORT: "0",
    COGNIVE_GRPC_PORT: "0",
    COGNIVE_PORT: "0",
    COGNIVE_DATA_DIR: dir,
    ...FIXTURE_ENV,
    ...env,
  });
  let running: Awaited<ReturnType<typeof startCognive>>;
  try {
    running = await startCognive(config, silentLogger);
  } catch (err) {
    // A start expected to fail leaves no directory behind.
    if (dataDir === undefined) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    throw err;
  }
  return {
    running,
    otlpUrl: `http://127.0.0.1:${running.otlpPort}`,
    grpcUrl: `http://127.0.0.1:${running.grpcPort}`,
    queryUrl: `http://127.0.0.1:${running.queryPort}`,
    dataDir: dir,
    async stop(opts) {
      await running.stop();
      if (!opts?.keepData) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Starts one test server for the enclosing suite and stops it afterwards; call the getter in tests. */
export function useTestServer(env: Record<string, string> = {}): () => TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(env);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error("the test server did not start");
    return server;
  };
}
