// The programs the local control plane needs, and where they come from: the kube-local build
// (tools/kube-local/build.sh, cached outside the repository) and a few Debian packages.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Debian package that provides each external tool, for the "missing" message. */
const PACKAGE_OF: Record<string, string> = {
  openssl: 'openssl',
  bash: 'bash',
  go: 'a Go >= 1.26 toolchain (https://go.dev/dl; Debian\'s golang-go is too old)',
};

export function findOnPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Fails with the package to install when a tool is missing. */
export function requireTool(tool: string): string {
  const found = findOnPath(tool);
  if (!found) {
    throw new Error(`${tool} is not installed (needed by the local control plane): install ${PACKAGE_OF[tool] ?? tool}`);
  }
  return found;
}

function readBuildVersion(root: string, name: 'KUBE_VERSION' | 'KWOK_VERSION'): string {
  const script = readFileSync(path.join(root, 'tools/kube-local/build.sh'), 'utf8');
  const match = new RegExp(`^${name}="([^"]+)"`, 'm').exec(script);
  if (!match?.[1]) throw new Error(`tools/kube-local/build.sh does not set ${name}`);
  return match[1];
}

/**
 * The directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
 * and kwok. KUBE_LOCAL_BIN_DIR points at a prebuilt one; otherwise build.sh builds (the first
 * time: 20-40 minutes, progress on stderr) or returns its cache.
 */
export async function kubeLocalBinDir(root: string): Promise<string> {
  const preset = process.env.KUBE_LOCAL_BIN_DIR;
  if (preset) {
    checkBinDir(preset, 'KUBE_LOCAL_BIN_DIR');
    return preset;
  }
  requireTool('bash');
  requireTool('go');
  const script = path.join(root, 'tools/kube-local/build.sh');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`tools/kube-local/build.sh failed with exit code ${code}`)),
    );
  });
  const binDir = stdout.trim().split('\n').pop()?.trim() ?? '';
  checkBinDir(binDir, 'tools/kube-local/build.sh');
  return binDir;
}

function checkBinDir(dir: string, from: string): void {
  for (const bin of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok']) {
    if (!existsSync(path.join(dir, bin))) throw new Error(`${from}: ${dir} has no ${bin}`);
  }
}

/**
 * kwok's source tree (for its default node, pod and volume Stages, which a standalone kwok does
 * not have built in), from the Go module cache, downloading it there if needed.
 */
export async function kwokModuleDir(root: string): Promise<string> {
  const version = readBuildVersion(root, 'KWOK_VERSION');
  requireTool('go');
  const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', `sigs.k8s.io/kwok@${version}`], {
    cwd: path.parse(root).root,
    env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
    maxBuffer: 1 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir?: string; Error?: string }).Dir;
  if (!dir || !existsSync(dir)) throw new Error(`go mod download sigs.k8s.io/kwok@${version} gave no source directory`);
  return dir;
}
