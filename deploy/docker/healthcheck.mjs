// The image's HEALTHCHECK (the slim base has no curl): `start` and `collector` answer /readyz on the
// OTLP/HTTP port; `query` has no OTLP port, so a refused connection there falls back to the API port.
// Exit 0 only on a 2xx from /readyz (storage reachable).
const otlp = process.env.COGNIVE_OTLP_PORT || "4318";
const api = process.env.COGNIVE_PORT || "3300";

async function ready(port) {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4000) });
  return res.ok;
}

let ok;
try {
  ok = await ready(otlp);
} catch {
  ok = await ready(api).catch(() => false);
}
process.exit(ok ? 0 : 1);
