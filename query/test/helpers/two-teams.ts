/**
 * The policy of the team-isolation tests: teams alpha and bravo with budgets, one agent each; bravo's
 * agent may only call gpt-4o (a gpt-4o-mini call raises a policy alert of team bravo).
 */
export const TWO_TEAMS_POLICY = `teams:
  alpha: { budgets: { daily_usd: 100, monthly_usd: 1000 } }
  bravo: { budgets: { daily_usd: 100, monthly_usd: 1000 } }
agents:
  alpha-agent: { team: alpha, budgets: { daily_usd: 50 } }
  bravo-agent: { team: bravo, allowed_models: ["gpt-4o"], budgets: { daily_usd: 50 } }
`;
