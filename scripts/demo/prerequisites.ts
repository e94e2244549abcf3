// What the demo needs on the machine: Node, the project's dependencies, Debian's postgresql and
// openssl (installed with apt-get when running as root), and Go >= 1.26 when the local control
// plane has to be built or started. Everything missing is reported at once, with what to type.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findOnPath } from '../../test/e2e/cluster/tools.js';
import { findPostgresBinDir } from '../../test/support/postgres.js';

export type Say = (message: string) => void;

export class MissingPrerequisites extends Error {
  constructor(readonly problems: string[]) {
    super(`the demo cannot run on this machine yet:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'MissingPrerequisites';
  }
}

const MIN_NODE: [number, number] = [20, 19];
const MIN_GO: [number, number] = [1, 26];

function atLeast(version: [number, number], minimum: [number, number]): boolean {
  return version[0] > minimum[0] || (version[0] === minimum[0] && version[1] >= minimum[1]);
}

function postgresInstalled(): boolean {
  try {
    return existsSync(path.join(findPostgresBinDir(), 'psql'));
  } catch {
    return false;
  }
}

/** The Debian packages of the demo that are not installed. */
function missingPackages(): string[] {
  return [...(postgresInstalled() ? [] : ['postgresql']), ...(findOnPath('openssl') ? [] : ['openssl'])];
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function aptGet(args: string[]): boolean {
  const result = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return result.status === 0;
}

/** The installed Go as [major, minor], or undefined when there is none on PATH. */
function goVersion(): [number, number] | undefined {
  if (!findOnPath('go')) return undefined;
  try {
    const out = execFileSync('go', ['version'], { encoding: 'utf8' });
    const match = /go(\d+)\.(\d+)/.exec(out);
    return match ? [Number(match[1]), Number(match[2])] : undefined;
  } catch {
    return undefined;
  }
}

const GO_HINT =
  'install it from https://go.dev/dl/ (for example: curl -fsSL https://go.dev/dl/go1.26.0.linux-amd64.tar.gz | sudo tar -C /usr/local -xz; ' +
  'export PATH=/usr/local/go/bin:$PATH); Debian\'s golang-go is too old. Or point KUBE_LOCAL_BIN_DIR at prebuilt binaries (Go is then still needed to fetch kwok\'s Stages)';

/**
 * Checks (and, as root, installs) what the demo needs. `needGo`: the local control plane is not
 * running, so it will be started, and built from Go modules the first time.
 */
export function ensurePrerequisites(root: string, options: { needGo: boolean; say: Say }): void {
  const problems: string[] = [];
  const node = process.versions.node.split('.').map(Number) as [number, number];
  if (!atLeast(node, MIN_NODE)) problems.push(`Node ${MIN_NODE.join('.')} or newer is needed (this is ${process.versions.node})`);
  if (!existsSync(path.join(root, 'node_modules', 'pg')) || !existsSync(path.join(root, 'node_modules', 'tsx'))) {
    problems.push('the project\'s dependencies are not installed: run npm ci');
  }

  let packages = missingPackages();
  if (packages.length > 0 && isRoot() && findOnPath('apt-get')) {
    options.say(`installing ${packages.join(' and ')} (apt-get install -y ${packages.join(' ')})`);
    if (!aptGet(['install', '-y', '--no-install-recommends', ...packages])) {
      options.say('apt-get install failed: updating the package lists and trying again');
      aptGet(['update']);
      aptGet(['install', '-y', '--no-install-recommends', ...packages]);
    }
    packages = missingPackages();
  }
  if (packages.length > 0) {
    const install = findOnPath('apt-get')
      ? `sudo apt-get install -y ${packages.join(' ')}`
      : `install ${packages.join(' and ')} with your package manager (PostgreSQL: the server binaries initdb and pg_ctl; or set PG_BIN_DIR)`;
    problems.push(`${packages.join(' and ')} ${packages.length > 1 ? 'are' : 'is'} not installed: ${install}`);
  }

  if (options.needGo) {
    const go = goVersion();
    const why = 'to build and start the local control plane (the first build takes about 11 minutes on 2 cores, then it is cached in ~/.cache/cell-operator/)';
    if (!go) problems.push(`Go >= ${MIN_GO.join('.')} is needed ${why} and is not on PATH: ${GO_HINT}`);
    else if (!atLeast(go, MIN_GO)) problems.push(`Go >= ${MIN_GO.join('.')} is needed ${why}; this is go${go.join('.')}: ${GO_HINT}`);
  }
  if (problems.length > 0) throw new MissingPrerequisites(problems);
}
