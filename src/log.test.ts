import { Writable } from 'node:stream';
import { pino } from 'pino';
import { REDACTED_PATHS } from './log.js';

describe('logger', () => {
  it('never prints a password or a database URL', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const log = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    log.info({ db: { password: 's3cret', databaseUrl: 'postgres://u:s3cret@h/db' } }, 'connecting');
    expect(lines.join('')).not.toContain('s3cret');
    expect(lines.join('')).toContain('[redacted]');
  });
});
