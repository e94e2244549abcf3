// Server-side statement statistics for a benchmark (pg_stat_statements, from PostgreSQL's contrib):
// each server is restarted with the module preloaded, then the statements that cost the most are
// printed with their planning and execution time per unit of work. Execution time includes waits
// for locks (the routing lock, a drain).
import type pg from 'pg';
import type { PostgresServer } from '../../test/support/postgres.js';

export interface StatementStats {
  /** Forgets everything counted so far (call just before the measured work). */
  reset(): Promise<void>;
  /** The `top` statements by planning + execution time of each server, per unit of `n` units, as lines to print. */
  report(n: number, top: number): Promise<string[]>;
}

async function reachable(pool: pg.Pool): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Servers whose preloaded libraries are set on their command line (a Citus node: `citus`) keep
 * them, and are left out with a line saying so.
 */
export async function statementStats(all: Record<string, { server: PostgresServer; pool: pg.Pool }>): Promise<StatementStats> {
  const servers: typeof all = {};
  const skipped: string[] = [];
  for (const [name, { server, pool }] of Object.entries(all)) {
    const preloaded = (await pool.query<{ s: string }>('SELECT current_setting($1) AS s', ['shared_preload_libraries'])).rows[0]?.s ?? '';
    if (preloaded !== '') {
      skipped.push(`${name} (preloads ${preloaded})`);
      continue;
    }
    await pool.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    await server.restart('fast');
    await reachable(pool);
    servers[name] = { server, pool };
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await pool.query('ALTER SYSTEM SET pg_stat_statements.track_planning = on');
    await pool.query('SELECT pg_reload_conf()');
  }
  return {
    async reset() {
      for (const { pool } of Object.values(servers)) await pool.query('SELECT pg_stat_statements_reset()');
    },
    async report(n, top) {
      const lines = skipped.map((s) => `  ${s}: no statement statistics`);
      for (const [name, { pool }] of Object.entries(servers)) {
        const total = await pool.query<{ plan: string; exec: string; calls: string }>(
          `SELECT round(sum(total_plan_time)::numeric / $1, 2) AS plan, round(sum(total_exec_time)::numeric / $1, 2) AS exec, round(sum(calls)::numeric / $1, 1) AS calls FROM pg_stat_statements`,
          [n],
        );
        const t = total.rows[0];
        lines.push(`  ${name}: ${t?.calls} statements, planning ${t?.plan} ms, executing ${t?.exec} ms (lock waits included) per unit; the ${top} costliest (runs, planning ms, executing ms):`);
        const { rows } = await pool.query<{ calls: string; plan: string; exec: string; q: string }>(
          `SELECT round(calls::numeric / $1, 2) AS calls, round(total_plan_time::numeric / $1, 3) AS plan, round(total_exec_time::numeric / $1, 3) AS exec,
                  left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS q
             FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_plan_time + total_exec_time DESC LIMIT $2`,
          [n, top],
        );
        for (const r of rows) lines.push(`    ${r.calls.padStart(6)} ${r.plan.padStart(7)} ${r.exec.padStart(7)}  ${r.q}`);
      }
      return lines;
    },
  };
}
