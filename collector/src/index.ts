export * from "./log.ts";
export * from "./storage/client.ts";
export * from "./storage/migrate.ts";
export * from "./storage/schema.ts";
