import { readFileSync } from "node:fs";
import type { PriceOverride } from "@cognive/semconv";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError } from "./config.ts";

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO date");
const perMtok = z.number().nonnegative();

const overrideSchema = z.strictObject({
  match: z
    .string()
    .min(1)
    .refine((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, "must be a valid regular expression"),
  provider: z.string().min(1).optional(),
  input_per_mtok: perMtok,
  output_per_mtok: perMtok,
  cache_read_per_mtok: perMtok.optional(),
  cache_write_per_mtok: perMtok.optional(),
  effective_from: isoDate.optional(),
  effective_to: isoDate.optional(),
});

/** The policy file. Governance sections (teams, agents, alerts) are read by their own components. */
export const policySchema = z.looseObject({
  pricing: z.strictObject({ overrides: z.array(overrideSchema).default([]) }).optional(),
});

export interface Policy {
  priceOverrides: PriceOverride[];
}

export function parsePolicy(text: string, source = "policy"): Policy {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${source}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return { priceOverrides: parsed.data.pricing?.overrides ?? [] };
}

export function loadPolicy(path: string | undefined): Policy {
  if (!path) return { priceOverrides: [] };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`COGNIVE_POLICY: cannot read ${path}: ${(err as Error).message}`);
  }
  return parsePolicy(text, path);
}
