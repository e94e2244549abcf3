// The operator and the router as child processes of the demo, run from source
// (`node --import tsx src/main.ts <command>`), each writing its output straight into its log file,
// so that a failure can name the component and show the end of its log.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { sleep, tail } from '../../test/e2e/cluster/processes.js';

/** A component failed: the message names it and ends with the last lines of its log. */
export class ComponentError extends Error {
  constructor(component: string, reason: string, logFile: string, root: string) {
    super(`${component} ${reason}\n--- last lines of ${path.relative(root, logFile)} ---\n${tail(logFile, 25)}`);
    this.name = 'ComponentError';
  }
}

export interface ComponentProcess {
  name: string;
  pid: number;
  logFile: string;
  isRunning(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Throws a ComponentError when the process has exited. */
  assertRunning(): void;
  /** Waits until GET `url` answers 200; fails early when the process exits. */
  waitHealthy(url: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartComponentOptions {
  name: string;
  root: string;
  /** The file URL of tsx's loader, so that the command works from any directory. */
  tsxLoader: string;
  /** Arguments of src/main.ts (`operator ...`, `router ...`). */
  args: string[];
  logFile: string;
  /** The whole environment (default: the demo's own, without NODE_OPTIONS). */
  env?: NodeJS.ProcessEnv;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

export function startComponent(options: StartComponentOptions): ComponentProcess {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'w');
  const child = (() => {
    try {
      return spawn(process.execPath, ['--import', options.tsxLoader, path.join(options.root, 'src/main.ts'), ...options.args], {
        cwd: options.root,
        env: options.env ?? { ...process.env, NODE_OPTIONS: '' },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
  })();
  if (child.pid === undefined) throw new ComponentError(options.name, 'did not start', options.logFile, options.root);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const assertRunning = () => {
    if (!done) return;
    const how = child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`;
    throw new ComponentError(options.name, `exited (${how})`, options.logFile, options.root);
  };
  return {
    name: options.name,
    pid: child.pid,
    logFile: options.logFile,
    exited,
    isRunning: () => !done,
    assertRunning,
    async waitHealthy(url, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        assertRunning();
        if ((await httpStatus(url)) === 200) return;
        if (Date.now() > deadline) throw new ComponentError(options.name, `did not answer 200 on ${url} within ${timeoutMs / 1000}s`, options.logFile, options.root);
        await sleep(300);
      }
    },
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
