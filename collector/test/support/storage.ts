import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, type Storage } from "../../src/storage/client.ts";
import { migrate } from "../../src/storage/migrate.ts";

/** A migrated embedded store in a temporary directory, removed by `close`. */
export async function openTestStorage(name: string): Promise<{ storage: Storage; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `cognive-${name}-`));
  const storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
  return {
    storage,
    async close() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
