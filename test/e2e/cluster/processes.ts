// Starting, probing and stopping the control-plane processes. Each runs detached (its own
// process group, logs to a file) so that it outlives the command that started it.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { ComponentSpec, HealthCheck } from './components.js';

export interface RunningComponent {
  spec: ComponentSpec;
  pid: number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export { freePort, freePorts } from '../../support/ports.js';

export function startProcess(spec: ComponentSpec): RunningComponent {
  mkdirSync(path.dirname(spec.log), { recursive: true });
  const fd = openSync(spec.log, 'a');
  try {
    const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`${spec.name} did not start (${spec.command})`);
    child.unref();
    return { spec, pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` is alive and still runs `command` (a recycled pid is not ours). */
export function isRunning(pid: number, command: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0 === command;
  } catch {
    return false; // gone meanwhile, or not Linux: treat as not ours
  }
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, command: string, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!isRunning(pid, command)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isRunning(pid, command) && !isZombie(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
      await sleep(200);
      return;
    }
    await sleep(100);
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ' '));
  } catch {
    return true;
  }
}

export interface AdminTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** GET a health endpoint; resolves with the status code and body, or rejects on network errors. */
export function probe(check: HealthCheck, admin: AdminTls | undefined, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(check.url);
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const request =
      check.tls === 'none'
        ? http.get(url, { timeout: timeoutMs }, onResponse)
        : https.get(
            url,
            check.tls === 'admin' && admin
              ? { timeout: timeoutMs, ca: admin.ca, cert: admin.cert, key: admin.key }
              : { timeout: timeoutMs, rejectUnauthorized: false },
            onResponse,
          );
    request.on('timeout', () => request.destroy(new Error(`timed out after ${timeoutMs}ms`)));
    request.on('error', reject);
  });
}

export async function isHealthy(check: HealthCheck, admin: AdminTls | undefined): Promise<boolean> {
  try {
    return (await probe(check, admin)).status === 200;
  } catch {
    return false;
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log file)';
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const all = buffer.toString('utf8').split('\n');
    const last = all.slice(-lines - 1);
    // klog's errors and fatals, Go's "Error:" and panics: the line that says why, which a page of
    // flags printed at start may push out of the last lines.
    const errors = all.slice(0, -lines - 1).filter((l) => /^[EF]\d{4} |^Error:|^panic:/.test(l)).slice(-10);
    return errors.length > 0 ? [...errors, '[…]', ...last].join('\n') : last.join('\n');
  } finally {
    closeSync(fd);
  }
}
