/**
 * TEST CODE ONLY: a small HTTP front for embedded chDB, so separate processes can share one store
 * through `CLICKHOUSE_URL` on machines where no ClickHouse server installs. It speaks the subset of
 * ClickHouse's HTTP interface that `@clickhouse/client` uses:
 *
 * - `GET/HEAD /ping` → `Ok.`; `POST /` (and `GET /`, read-only) with the statement in the `query`
 *   URL parameter and/or the body (URL part first, body after a newline: how INSERT data arrives);
 * - binary INSERT data (`FORMAT RowBinary` or `Native`): chDB takes only text in a statement, so the
 *   body goes through a temporary file read with `file()`, its structure the insert's columns;
 * - `param_<name>` values (URL or multipart/form-data body) bound as query parameters with the
 *   server's text rules; other URL parameters are settings; `database`, `query_id`,
 *   `default_format` (TabSeparated otherwise), `enable_http_compression` + Accept-Encoding gzip,
 *   Content-Encoding gzip request bodies;
 * - auth by `X-ClickHouse-User`/`X-ClickHouse-Key`, Basic, or `user`/`password` parameters;
 * - answers with `X-ClickHouse-Query-Id`, `-Format`, `-Timezone`, `-Summary`; errors as ClickHouse
 *   sends them (status, `X-ClickHouse-Exception-Code`, body `Code: N. DB::Exception: … (NAME)`), so
 *   the client raises them as ClickHouseError.
 *
 * Each request runs on a chDB session of its own, so SET statements never leak between requests.
 * Not supported (refused with an error): HTTP sessions (`session_id`), compressed formats other
 * than gzip.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Session } from "chdb";

export interface ChdbHttpOptions {
  dataDir: string;
  user?: string;
  password?: string;
  /** Largest request body taken (after decompression); larger ones get a 413 and run nothing. */
  maxBodyBytes?: number;
  /**
   * Engine arguments (e.g. `--config-file=…`). They take effect only if this front opens the
   * process's first chDB session: the engine is configured once per process.
   */
  connectionArgs?: string[];
}

export interface ChdbHttp {
  /** Base URL with the credentials in it, as CLICKHOUSE_URL takes it. */
  url: string;
  port: number;
  /** Statements run, by kind, for tests that count them. */
  readonly statements: string[];
  close(): Promise<void>;
}

const VERSION = "26.7.2.1";

/** URL parameters that are part of the protocol rather than settings. */
const PROTOCOL_PARAMS = new Set([
  "query",
  "database",
  "query_id",
  "default_format",
  "user",
  "password",
  "quota_key",
  "role",
  "session_id",
  "session_timeout",
  "session_check",
  "compress",
  "decompress",
  "buffer_size",
]);

/** HTTP-layer settings with no meaning to the embedded engine. */
const HTTP_ONLY_SETTINGS = new Set([
  "wait_end_of_query",
  "enable_http_compression",
  "http_zlib_compression_level",
  "send_progress_in_http_headers",
  "http_headers_progress_interval_ms",
  "http_response_buffer_size",
  "http_wait_end_of_query",
]);

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(`Code: ${code}. DB::Exception: ${message}. (${type})`);
  }
}

/** A SQL string literal holding `text` exactly. */
const literal = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

/** HTTP status ClickHouse answers for an error code (the common ones; 500 otherwise). */
function statusFor(code: number): number {
  if ([62, 27, 26, 36, 38, 41, 53, 69, 70, 72, 115, 117, 190, 456, 457].includes(code)) return 400;
  if ([60, 81, 16, 47].includes(code)) return 404;
  if ([164, 497, 516].includes(code)) return 403;
  if (code === 159) return 504;
  return 500;
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, 241, "MEMORY_LIMIT_EXCEEDED", `request body over ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = req.headers["content-encoding"];
  if (!encoding || encoding === "identity") return raw;
  if (encoding !== "gzip")
    throw new HttpError(400, 36, "BAD_ARGUMENTS", `unsupported Content-Encoding ${JSON.stringify(encoding)}`);
  let out: Buffer;
  try {
    out = gunzipSync(raw, { maxOutputLength: max });
  } catch (err) {
    throw new HttpError(400, 432, "CANNOT_DECOMPRESS", `cannot gunzip the body: ${(err as Error).message}`);
  }
  return out;
}

function credentials(req: IncomingMessage, params: URLSearchParams): { user: string; password: string } {
  const header = req.headers.authorization;
  if (typeof header === "string" && header.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    const at = decoded.indexOf(":");
    return { user: decoded.slice(0, at < 0 ? undefined : at), password: at < 0 ? "" : decoded.slice(at + 1) };
  }
  const user = req.headers["x-clickhouse-user"] ?? params.get("user") ?? "default";
  const password = req.headers["x-clickhouse-key"] ?? params.get("password") ?? "";
  return { user: String(user), password: String(password) };
}

interface Request {
  sql: string;
  format: string;
  queryId: string;
  gzip: boolean;
  rowsSent: number;
  /** INSERT with no data: ClickHouse answers it with nothing written. */
  emptyInsert: boolean;
}

const BINARY_INSERT = /^(\s*INSERT\b[\s\S]*)\bFORMAT\s+(RowBinary|Native)\s*$/i;

async function parse(
  req: IncomingMessage,
  url: URL,
  opts: Required<ChdbHttpOptions>,
  /** Names the request's binary data file (removed after the statement). */
  dataFile: () => string,
): Promise<Request> {
  const params = url.searchParams;
  const who = credentials(req, params);
  if (who.user !== opts.user || who.password !== opts.password)
    throw new HttpError(
      403,
      516,
      "AUTHENTICATION_FAILED",
      `${who.user}: Authentication failed: password is incorrect, or there is no user with such name`,
    );
  if (params.has("session_id")) throw new HttpError(400, 36, "BAD_ARGUMENTS", "HTTP sessions are not supported here");
  const body = req.method === "POST" ? await readBody(req, opts.maxBodyBytes) : Buffer.alloc(0);

  // Parameters may come in a multipart body (the client does so when they would not fit the URL).
  const bound = new Map<string, string>();
  for (const [k, v] of params) if (k.startsWith("param_")) bound.set(k.slice(6), v);
  let bodyText = body.toString("utf8");
  let urlQuery = params.get("query") ?? "";
  const type = req.headers["content-type"] ?? "";
  if (type.startsWith("multipart/form-data")) {
    const form = await new globalThis.Request("http://x/", {
      method: "POST",
      headers: { "content-type": type },
      body: new Uint8Array(body),
    })
      .formData()
      .catch(() => {
        throw new HttpError(400, 36, "BAD_ARGUMENTS", "malformed multipart/form-data body");
      });
    bodyText = "";
    for (const [k, v] of form) {
      if (typeof v !== "string") continue;
      if (k === "query") urlQuery = urlQuery ? `${urlQuery}\n${v}` : v;
      else if (k.startsWith("param_")) bound.set(k.slice(6), v);
    }
  }
  const binary = BINARY_INSERT.exec(urlQuery);
  let statement = urlQuery && bodyText ? `${urlQuery}\n${bodyText}` : urlQuery || bodyText;
  if (binary && body.length > 0) {
    const file = dataFile();
    writeFileSync(file, body);
    statement = `${binary[1]} SELECT * FROM file(${literal(file)}, ${binary[2]})`;
  }
  if (statement.trim() === "") throw new HttpError(400, 62, "SYNTAX_ERROR", "Empty query");

  // A server's defaults where chDB's differ; the request's own settings come after and win.
  const prefix: string[] = ["SET output_format_json_quote_64bit_integers = 1"];
  for (const [k, v] of params) {
    if (PROTOCOL_PARAMS.has(k) || k.startsWith("param_") || HTTP_ONLY_SETTINGS.has(k)) continue;
    if (!NAME.test(k)) throw new HttpError(400, 115, "UNKNOWN_SETTING", `Unknown setting ${JSON.stringify(k)}`);
    prefix.push(`SET ${k} = ${literal(v)}`);
  }
  for (const [k, v] of bound) {
    if (!NAME.test(k)) throw new HttpError(400, 36, "BAD_ARGUMENTS", `invalid parameter name ${JSON.stringify(k)}`);
    prefix.push(`SET param_${k} = ${literal(v)}`);
  }
  const database = params.get("database");
  if (database) {
    if (!NAME.test(database)) throw new HttpError(404, 81, "UNKNOWN_DATABASE", `Database ${database} does not exist`);
    prefix.push(`USE ${database}`);
  }
  // A GET changes nothing, as on a server (set last: readonly forbids later SETs).
  if (req.method !== "POST") prefix.push("SET readonly = 1");

  const format = params.get("default_format") ?? "TabSeparated";
  if (!NAME.test(format)) throw new HttpError(400, 73, "UNKNOWN_FORMAT", `Unknown format ${format}`);
  const acceptsGzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  return {
    sql: [...prefix, statement].join(";\n"),
    format,
    queryId: params.get("query_id") ?? randomUUID(),
    gzip: params.get("enable_http_compression") === "1" && acceptsGzip,
    // chDB reports no written rows: for line-delimited data, its lines are the rows.
    rowsSent:
      /^\s*INSERT\b/i.test(urlQuery) && !binary ? bodyText.split("\n").filter((l) => l.trim() !== "").length : 0,
    emptyInsert:
      req.method === "POST" && /^\s*INSERT\b[\s\S]*\bFORMAT\s+\w+\s*$/i.test(urlQuery) && bodyText.trim() === "",
  };
}

const CONTENT_TYPES: Record<string, string> = {
  JSON: "application/json; charset=UTF-8",
  JSONEachRow: "application/x-ndjson; charset=UTF-8",
  JSONCompactEachRow: "application/x-ndjson; charset=UTF-8",
};

function summary(rows: number, bytes: number, written: number, elapsedSeconds: number): string {
  return JSON.stringify({
    read_rows: String(rows),
    read_bytes: String(bytes),
    written_rows: String(written),
    written_bytes: "0",
    total_rows_to_read: "0",
    result_rows: String(rows),
    result_bytes: String(bytes),
    elapsed_ns: String(Math.round(elapsedSeconds * 1e9)),
  });
}

function fail(res: ServerResponse, err: unknown, queryId?: string): void {
  let status = 500;
  let code = 1001;
  let text: string;
  if (err instanceof HttpError) {
    status = err.status;
    code = err.code;
    text = err.message;
  } else {
    text = err instanceof Error ? err.message : String(err);
    const m = /Code: (\d+)\./.exec(text);
    if (m) {
      code = Number(m[1]);
      status = statusFor(code);
    } else text = `Code: ${code}. DB::Exception: ${text}. (STD_EXCEPTION)`;
  }
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, {
    "content-type": "text/plain; charset=UTF-8",
    "x-clickhouse-exception-code": String(code),
    ...(queryId ? { "x-clickhouse-query-id": queryId } : {}),
  });
  res.end(`${text.trim()} (version ${VERSION})\n`);
}

/** Starts the front on an ephemeral loopback port. */
export async function startChdbHttp(options: ChdbHttpOptions): Promise<ChdbHttp> {
  const opts: Required<ChdbHttpOptions> = {
    user: "default",
    password: "",
    maxBodyBytes: 256 * 1024 * 1024,
    connectionArgs: [],
    ...options,
  };
  // One session kept open binds the data directory for the life of the front.
  const anchor = new Session(opts.dataDir, { connectionArgs: opts.connectionArgs });
  const statements: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "chdb-http-data-"));
  let dataFiles = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/ping" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, { "content-type": "text/plain; charset=UTF-8" }).end("Ok.\n");
      return;
    }
    if (url.pathname !== "/" || (req.method !== "POST" && req.method !== "GET")) {
      fail(res, new HttpError(404, 1001, "HTTP_NOT_FOUND", `no handler for ${req.method} ${url.pathname}`));
      return;
    }
    let parsed: Request | undefined;
    let dataFile: string | undefined;
    try {
      parsed = await parse(req, url, opts, () => {
        dataFile = join(dataDir, `${++dataFiles}.bin`);
        return dataFile;
      });
      const { sql, format, queryId } = parsed;
      const headers: Record<string, string> = {
        "x-clickhouse-query-id": queryId,
        "x-clickhouse-format": format,
        "x-clickhouse-timezone": "UTC",
        "x-clickhouse-server-display-name": "chdb-http",
        "content-type": CONTENT_TYPES[format] ?? "text/tab-separated-values; charset=UTF-8",
      };
      if (parsed.emptyInsert) {
        res.writeHead(200, { ...headers, "x-clickhouse-summary": summary(0, 0, 0, 0) }).end();
        return;
      }
      statements.push(sql);
      const session = new Session(opts.dataDir);
      let result: Awaited<ReturnType<Session["queryAsync"]>>;
      try {
        result = await session.queryAsync(sql, { format });
      } finally {
        session.close();
      }
      headers["x-clickhouse-summary"] = summary(result.rowsRead, result.bytesRead, parsed.rowsSent, result.elapsed);
      let out: Buffer = Buffer.from(result.bytes());
      if (parsed.gzip) {
        out = gzipSync(out);
        headers["content-encoding"] = "gzip";
      }
      res.writeHead(200, headers).end(out);
    } catch (err) {
      fail(res, err, parsed?.queryId);
    } finally {
      if (dataFile) rmSync(dataFile, { force: true });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  const auth = `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password)}@`;
  return {
    url: `http://${auth}127.0.0.1:${port}`,
    port,
    statements,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      anchor.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
