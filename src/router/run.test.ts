import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { parseRouterConfig } from '../config.js';
import { runRouter } from './run.js';

describe('cell-operator router', () => {
  it('refuses a token file holding fewer than 16 characters, as it refuses a short --token', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'router-token-')), 'token');
    writeFileSync(file, 'short\n');
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      // The database is never reached: the token is checked first.
      const code = await runRouter(parseRouterConfig(['--database-url', 'postgres://router@127.0.0.1:1/none', '--token-file', file], {}));
      expect(code).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toContain('--token-file (or ROUTER_TOKEN_FILE): the token must be at least 16 characters');
  });

  it('reads the change-stream cap and the staleness limit from flags, with serving stale as the default', () => {
    expect(parseRouterConfig([], {})).toMatchObject({ maxChangeStreams: 2000, maxStaleSeconds: 0 });
    expect(parseRouterConfig(['--max-change-streams', '50', '--max-stale-seconds', '600'], {})).toMatchObject({ maxChangeStreams: 50, maxStaleSeconds: 600 });
  });
});
