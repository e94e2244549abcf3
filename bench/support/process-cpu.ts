// CPU time of processes from /proc (Linux), for benchmarks that say where the time went: this
// process, a backend, or a whole PostgreSQL server (its postmaster and every child, the ended ones
// included). undefined where /proc cannot be read.
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

/** /proc/<pid>/stat's fields after the command name: [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
  } catch {
    return undefined;
  }
}

// Clock ticks of 10 ms (USER_HZ 100 on Linux).
const ticksMs = (f: string[], ...at: number[]): number => at.reduce((sum, i) => sum + Number(f[i]), 0) * 10;

/** CPU time (user + system) of one process in ms. */
export function processCpuMs(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? ticksMs(f, 11, 12) : undefined;
}

/**
 * A reader of a PostgreSQL server's CPU in ms: the postmaster's own, its children's that ended and
 * were waited for (cutime, cstime), and every live child's (backends, the checkpointer, autovacuum).
 */
export async function serverCpu(pool: pg.Pool): Promise<() => number | undefined> {
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const backend = statFields(rows[0]?.pid as number);
  const postmaster = Number(backend?.[1]);
  return () => {
    const own = statFields(postmaster);
    if (!own) return undefined;
    let ms = ticksMs(own, 11, 12, 13, 14);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const f = statFields(Number(entry));
      if (f && Number(f[1]) === postmaster) ms += ticksMs(f, 11, 12);
    }
    return ms;
  };
}

/**
 * A server's CPU by process kind (the title PostgreSQL gives each child: `autovacuum worker`,
 * `walwriter`, a backend's `user db host(port) state` as `backend`), for a breakdown at the end of a
 * run: ended processes are not in it (their CPU went to the postmaster's cutime).
 */
export async function serverCpuByKind(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const postmaster = Number(statFields(rows[0]?.pid as number)?.[1]);
  const kinds: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (!f || Number(f[1]) !== postmaster) continue;
    let title = '';
    try {
      title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    const kind = /^postgres: (autovacuum launcher|autovacuum worker|walwriter|checkpointer|background writer|logical replication launcher|stats collector|Citus Maintenance Daemon)/.exec(title)?.[1] ?? 'backend';
    kinds[kind] = (kinds[kind] ?? 0) + ticksMs(f, 11, 12);
  }
  return kinds;
}

/** This process's CPU time (user + system) in ms. */
export const ownCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * CPU spent by each of the named parts between two calls: `const split = await cpuSplit({...});
 * … const ms = split();` gives { name: ms } (undefined where /proc could not be read).
 */
export async function cpuSplit(servers: Record<string, pg.Pool>): Promise<() => Record<string, number | undefined>> {
  const readers: Record<string, () => number | undefined> = { operator: ownCpuMs, 'operator (system)': () => process.cpuUsage().system / 1000 };
  for (const [name, pool] of Object.entries(servers)) readers[name] = await serverCpu(pool);
  const start = Object.fromEntries(Object.entries(readers).map(([k, read]) => [k, read()]));
  return () =>
    Object.fromEntries(
      Object.entries(readers).map(([k, read]) => {
        const now = read();
        const then = start[k];
        return [k, now === undefined || then === undefined ? undefined : now - then];
      }),
    );
}

/** `operator 12.3, control plane 4.5, …` ms per unit (of `n` units). */
export function describeCpu(split: Record<string, number | undefined>, n: number): string {
  return Object.entries(split)
    .map(([k, ms]) => `${k} ${ms === undefined ? '?' : (ms / n).toFixed(2)}`)
    .join(', ');
}

/**
 * Sessions opened on each server between two calls (pg_stat_database.sessions, PostgreSQL 14+): a
 * connection opened per statement shows here as CPU does not (authentication, a backend started).
 */
export async function sessionsOpened(servers: Record<string, pg.Pool>): Promise<() => Promise<Record<string, number>>> {
  const read = async (pool: pg.Pool): Promise<number> => Number((await pool.query<{ n: string }>('SELECT sum(sessions) AS n FROM pg_stat_database')).rows[0]?.n ?? 0);
  const start = Object.fromEntries(await Promise.all(Object.entries(servers).map(async ([k, pool]) => [k, await read(pool)] as const)));
  return async () => Object.fromEntries(await Promise.all(Object.entries(servers).map(async ([k, pool]) => [k, (await read(pool)) - (start[k] ?? 0)] as const)));
}
