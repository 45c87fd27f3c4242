// Module resolve hook: in-repo code runs the @cognive/* workspaces from their TypeScript sources (the
// "cognive-source" export condition) instead of their npm builds, the same as `node --conditions=cognive-source`.
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes("cognive-source")
    ? context.conditions
    : [...context.conditions, "cognive-source"];
  return nextResolve(specifier, { ...context, conditions });
}
