import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Logger } from "@cognive/collector";
import { Hono } from "hono";

/** The app page: the bundle plus `<cognive-app>`; views live in the URL hash so deep links work anywhere. */
const APP_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cognive</title>
<link rel="icon" href="data:,">
<style>html,body{margin:0;min-height:100%;background:Canvas;color-scheme:light dark}</style>
<script type="module" src="/ui/cognive-ui.js"></script>
</head>
<body>
<cognive-app></cognive-app>
<noscript>Cognive's UI needs JavaScript. The API is at /api/v1/openapi.json.</noscript>
</body>
</html>
`;

/**
 * The app page's security headers: scripts only from this server (the bundle), data only from this
 * origin, never framed, no MIME sniffing. Inline styles stay allowed: components style themselves.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

interface Served {
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

let bundle: Promise<Served> | undefined;

/**
 * Run from its sources (in-repo, the cognive-source condition) the server bundles the components at
 * start, so edits show up without a build; compiled, it serves the file `npm run build` wrote.
 */
async function bundleJs(): Promise<string> {
  if (import.meta.url.endsWith(".ts")) return (await (await import("@cognive/ui/bundle")).buildBundle()).js;
  return readFile(fileURLToPath(import.meta.resolve("@cognive/ui/cognive-ui.js")), "utf8");
}

/** The bundle, built once per process (a failed build is retried on the next call). */
function loadBundle(log: Logger): Promise<Served> {
  bundle ??= bundleJs().then((js) => {
    const body = Buffer.from(js);
    return {
      body,
      gzip: gzipSync(body, { level: 9 }),
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
    };
  });
  bundle.catch((err) => {
    log.error("UI bundle failed to build", { err });
    bundle = undefined;
  });
  return bundle;
}

/** Builds the bundle ahead of the first page load; resolves false (logged) when it cannot be built. */
export function warmUi(log: Logger): Promise<boolean> {
  return loadBundle(log).then(
    () => true,
    () => false,
  );
}

/** Serves the UI: the bundle at `/ui/cognive-ui.js` and the app page at `/`. */
export function uiRoutes(log: Logger): Hono {
  const load = () => loadBundle(log);
  const routes = new Hono();
  routes.get("/ui/cognive-ui.js", async (c) => {
    const b = await load();
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "no-cache");
    c.header("etag", b.etag);
    c.header("vary", "accept-encoding");
    // The bundle holds no data and is meant to be loaded by portals on any origin.
    c.header("access-control-allow-origin", "*");
    c.header("x-content-type-options", "nosniff");
    if (c.req.header("if-none-match") === b.etag) return c.body(null, 304);
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      c.header("content-encoding", "gzip");
      return c.body(new Uint8Array(b.gzip));
    }
    return c.body(new Uint8Array(b.body));
  });
  routes.get("/", (c) => {
    for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value);
    return c.html(APP_PAGE);
  });
  return routes;
}
