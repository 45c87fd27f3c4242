/**
 * Embedded storage's memory allocator. chDB carries its own jemalloc, which reads `JE_MALLOC_CONF`
 * once, when the library loads: this module is imported before chDB (storage/client.ts) so that its
 * defaults apply to every process that opens embedded storage. A value the operator set is kept.
 *
 * chDB's built-in settings keep freed pages for 5 s and sample allocations for a heap profiler
 * nothing here reads. Loads arrive about once a second and each one allocates its block's columns
 * again, so pages were handed back and faulted in anew; keeping them 30 s and not sampling cut the
 * store's insert threads by 1–2.5 µs a span and the server by 5–10 % at the ingest bench's rate, for
 * 0.1–0.2 GiB more peak memory (bench/RESULTS.md, 2026-12-05).
 */
export const CHDB_MALLOC_CONF = "prof:false,dirty_decay_ms:30000";

if (process.env.JE_MALLOC_CONF === undefined) process.env.JE_MALLOC_CONF = CHDB_MALLOC_CONF;
