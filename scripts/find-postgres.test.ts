// scripts/find-postgres.sh (used by scripts/setup.sh) finds the PostgreSQL server binaries on any
// layout: PG_BIN_DIR, pg_config --bindir, the Debian directories. The other layouts are made from
// this machine's real binaries (symlinked elsewhere), and a server really starts from there.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findPostgresBinDir, startPostgres } from '../test/support/postgres.js';

const run = promisify(execFile);
const script = path.join(process.cwd(), 'scripts/find-postgres.sh');

async function find(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('bash', [script], { env: { HOME: process.env.HOME ?? '/root', ...env } });
    return { code: 0, stdout: stdout.trim(), stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout.trim(), stderr: e.stderr };
  }
}

describe('finding PostgreSQL', () => {
  let real = '';
  let dir = '';
  let elsewhere = '';

  beforeAll(async () => {
    real = (await find({ PATH: process.env.PATH ?? '/usr/bin:/bin' })).stdout;
    dir = mkdtempSync(path.join(tmpdir(), 'pg-layout-'));
    chmodSync(dir, 0o755); // the tests' servers run as an unprivileged user when started by root
    // A layout like a source build's or a tarball's: /opt/pgsql/bin.
    elsewhere = path.join(dir, 'opt/pgsql/bin');
    mkdirSync(elsewhere, { recursive: true });
    for (const bin of ['initdb', 'pg_ctl', 'postgres']) symlinkSync(path.join(real, bin), path.join(elsewhere, bin));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the binaries of this machine', () => {
    expect(real).toMatch(/\/bin$/);
  });

  it('takes PG_BIN_DIR first, and the tests start a server from that directory', async () => {
    expect(await find({ PATH: '/usr/bin:/bin', PG_BIN_DIR: elsewhere })).toMatchObject({ code: 0, stdout: elsewhere });
    const before = process.env.PG_BIN_DIR;
    process.env.PG_BIN_DIR = elsewhere;
    try {
      expect(findPostgresBinDir()).toBe(elsewhere);
      const server = await startPostgres();
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
      await client.end();
      await server.stop();
      expect(Number(rows[0]!.v)).toBeGreaterThan(100000);
    } finally {
      if (before === undefined) delete process.env.PG_BIN_DIR;
      else process.env.PG_BIN_DIR = before;
    }
  }, 120_000);

  it('asks pg_config --bindir on a layout it does not know', async () => {
    // The pg_config of a distribution that installs elsewhere: it answers that bindir.
    const tools = path.join(dir, 'tools');
    mkdirSync(tools, { recursive: true });
    writeFileSync(path.join(tools, 'pg_config'), `#!/bin/sh\n[ "$1" = --bindir ] && echo ${elsewhere}\n`, { mode: 0o755 });
    expect(await find({ PATH: `${tools}:/usr/bin:/bin` })).toMatchObject({ code: 0, stdout: elsewhere });
  });

  it('refuses a PG_BIN_DIR without the server binaries, naming it', async () => {
    const result = await find({ PATH: '/usr/bin:/bin', PG_BIN_DIR: path.join(dir, 'empty') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`PG_BIN_DIR=${path.join(dir, 'empty')} has no initdb, pg_ctl and postgres`);
  });
});
