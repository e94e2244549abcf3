import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { loadKubeConfig } from './kube-config.js';

function kubeconfig(dir: string, name: string, server: string): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster: { server } }],
      users: [{ name, user: { token: 't' } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      'current-context': name,
    }),
  );
  return file;
}

describe('loadKubeConfig', () => {
  let dir: string;
  const saved = process.env.KUBECONFIG;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'))));
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });

  it('loads the file its environment names, not the process environment’s (--kubeconfig)', () => {
    process.env.KUBECONFIG = kubeconfig(dir, 'process', 'https://process.example:6443');
    const flag = kubeconfig(dir, 'flag', 'https://flag.example:6443');
    expect(loadKubeConfig({ KUBECONFIG: flag }).getCurrentCluster()?.server).toBe('https://flag.example:6443');
  });

  it('merges a list of files with the first one’s current context, as kubectl does', () => {
    const first = kubeconfig(dir, 'first', 'https://first.example:6443');
    const second = kubeconfig(dir, 'second', 'https://second.example:6443');
    const kc = loadKubeConfig({ KUBECONFIG: [first, second].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).toBe('https://first.example:6443');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['first', 'second']);
  });
});
