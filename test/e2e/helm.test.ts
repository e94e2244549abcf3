// The Helm chart with a real helm (built from helm.sh/helm/v3 by tools/helm/build.sh): it lints,
// its values schema refuses bad values, what it renders is accepted by the API server, and it
// installs and upgrades with everything wired (the pods are kwok's: accepted and Ready, not running
// our image). The namespace enforces Pod Security `restricted`, so a non-compliant pod never starts.
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { wildcards } from '../../src/rbac/rules.js';
import { createPool } from '../../src/store/connection.js';
import { startPostgres } from '../support/postgres.js';
import { e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';

const run = promisify(execFile);
const root = process.cwd();
const CHART = path.join(root, 'charts/cell-operator');
const TIMEOUT_MS = 180_000;
// Unique names: the cluster is shared with other suites, and the chart's cluster-scoped objects
// (ClusterRole, ClusterRoleBinding) are named after the release.
const suffix = randomBytes(3).toString('hex');
const namespace = `e2e-helm-${suffix}`;
const release = `e2e-helm-${suffix}`;
const fullname = `${release}-cell-operator`;

let helmBin = '';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function helm(args: string[], options: { allowFailure?: boolean } = {}): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helmBin, args, {
      env: { ...process.env, KUBECONFIG: e2eEnv().kubeconfig, HELM_CACHE_HOME: path.join(e2eEnv().artifactsDir, 'helm/cache'), HELM_CONFIG_HOME: path.join(e2eEnv().artifactsDir, 'helm/config'), HELM_DATA_HOME: path.join(e2eEnv().artifactsDir, 'helm/data') },
      maxBuffer: 64 * 1024 * 1024,
      timeout: TIMEOUT_MS,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    const result = { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
    if (options.allowFailure) return result;
    throw new Error(`helm ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

const objects = (yaml: string): K8sObject[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);

const template = async (extra: string[] = []) => (await helm(['template', release, CHART, '--namespace', namespace, ...extra])).stdout;

describe('the Helm chart', () => {
  beforeAll(async () => {
    const { stdout } = await run(path.join(root, 'tools/helm/build.sh'), { timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 });
    helmBin = stdout.trim().split('\n').pop() ?? '';
    // Pod Security `restricted` enforced (and warned about at apply time) in the release namespace.
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['label', 'namespace', namespace, ...['enforce', 'warn', 'audit'].map((m) => `pod-security.kubernetes.io/${m}=restricted`)]);
  }, 16 * 60_000);

  afterAll(async () => {
    if (helmBin) await helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '60s'], { allowFailure: true });
    await kubectl(['delete', 'namespace', namespace, '--wait=false'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('passes helm lint --strict, with its defaults and with every option turned on or swapped', async () => {
    const variants = [
      [],
      ['--set', 'metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true'],
      ['--set', 'controlPlane.postgres.enabled=false,controlPlane.databaseUrl=postgres://u:p@db.example:5432/cp?sslmode=require'],
      ['--set', 'controlPlane.postgres.enabled=false,controlPlane.existingSecret=cp-db,router.token.existingSecret=router-token'],
      ['--set', 'router.enabled=false,operator.leaderElection.enabled=false,networkPolicy.enabled=false,operator.replicas=1'],
      ['--set', 'metrics.podMonitor.enabled=true,global.imageRegistry=registry.example.com:5000/mirror,userRoles.enabled=false'],
      ['--set', 'podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null,podSecurityContext.fsGroup=null'],
    ];
    for (const extra of variants) {
      const { stdout } = await helm(['lint', '--strict', CHART, ...extra]);
      expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  }, TIMEOUT_MS);

  it("has a second small chart for a cell's own cluster whose ClusterRole is the generated one, and the API server accepts it", async () => {
    const REMOTE = path.join(root, 'charts/cell-operator-remote');
    expect((await helm(['lint', '--strict', REMOTE])).stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    const rendered = objects((await helm(['template', 'cell-operator-remote', REMOTE, '--namespace', namespace])).stdout);
    expect(rendered.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Secret', 'ServiceAccount']);
    const role = rendered.find((o) => o.kind === 'ClusterRole') as unknown as { rules: unknown[] };
    const plain = objects(readFileSync(path.join(root, 'config/remote-cluster/rbac.yaml'), 'utf8')).find((o) => o.kind === 'ClusterRole') as unknown as { rules: unknown[] };
    expect(role.rules).toEqual(plain.rules);
    expect(JSON.stringify(role.rules)).not.toContain('"*"');
    const file = path.join(e2eEnv().artifactsDir, `helm-remote-${suffix}.yaml`);
    writeFileSync(file, (await helm(['template', 'cell-operator-remote', REMOTE, '--namespace', namespace, '--set', 'tokenSecret=false'])).stdout);
    expect((await kubectl(['apply', '--dry-run=server', '-f', file])).stdout).toMatch(/clusterrole.rbac.authorization.k8s.io\/cell-operator-remote created \(server dry run\)/);
    const bad = await helm(['template', 'x', REMOTE, '--set', 'serviceAccount.name=Not_A_Name'], { allowFailure: true });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/at '\/serviceAccount\/name'/);
  }, TIMEOUT_MS);

  it('refuses a bad value with a message naming the field', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'operator.replicas=two'], /at '\/operator\/replicas': got string, want integer/],
      [['--set', 'operator.replcas=2'], /at '\/operator': additional properties 'replcas' not allowed/],
      [['--set', 'router.logLevel=loud'], /at '\/router\/logLevel'/],
      [['--set', 'controlPlane.databaseUrl=mysql://x'], /at '\/controlPlane\/databaseUrl'/],
      [['--set', 'controlPlane.tls.sslMode=sometimes'], /at '\/controlPlane\/tls\/sslMode'/],
      [['--set', 'controlPlane.databaseUrl=postgres://u:p@db:5432/cp'], /set controlPlane.postgres.enabled=false too/],
    ];
    for (const [args, message] of cases) {
      const result = await helm(['template', release, CHART, ...args], { allowFailure: true });
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toMatch(message);
    }
  }, TIMEOUT_MS);

  it("accepts the values of the Argo CD example (examples/argocd/operator.yaml)", async () => {
    const [app] = objects(readFileSync(path.join(root, 'examples/argocd/operator.yaml'), 'utf8')) as unknown as { spec: { source: { helm: { valuesObject: unknown } } } }[];
    const file = path.join(e2eEnv().artifactsDir, `helm-argocd-values-${suffix}.json`);
    writeFileSync(file, JSON.stringify(app!.spec.source.helm.valuesObject));
    const rendered = objects(await template(['--values', file]));
    // No Secret the chart would generate anew on every Argo CD render.
    expect(rendered.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(rendered.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'ConfigMap']));
  }, TIMEOUT_MS);

  it('generates its PostgreSQL\'s certificate, which a real PostgreSQL serves and a verify-full client accepts', async () => {
    const rendered = objects(await template());
    const secret = rendered.find((o) => o.kind === 'Secret' && o.metadata.name === `${fullname}-postgres-tls`) as unknown as { type: string; data: Record<string, string> };
    expect(secret.type).toBe('kubernetes.io/tls');
    const pem = (key: string) => Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
    expect(new X509Certificate(pem('tls.crt')).checkHost(`${fullname}-postgres.${namespace}.svc`)).toBeDefined();
    const server = await startPostgres({ certificate: { cert: pem('tls.crt'), key: pem('tls.key'), ca: pem('ca.crt') } });
    // The operator's and the router's settings: PGSSLMODE and PGSSLROOTCERT as the chart sets them.
    const saved = { mode: process.env.PGSSLMODE, root: process.env.PGSSLROOTCERT };
    try {
      process.env.PGSSLMODE = 'verify-full';
      process.env.PGSSLROOTCERT = server.caFile;
      const verified = createPool({ host: 'localhost', port: server.port, user: server.user, database: 'postgres', connectTimeoutMs: 5000 });
      try {
        const { rows } = await verified.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        expect(rows[0]?.ssl).toBe(true);
      } finally {
        await verified.end();
      }
    } finally {
      if (saved.mode === undefined) delete process.env.PGSSLMODE;
      else process.env.PGSSLMODE = saved.mode;
      if (saved.root === undefined) delete process.env.PGSSLROOTCERT;
      else process.env.PGSSLROOTCERT = saved.root;
      await server.stop();
    }
  }, TIMEOUT_MS);

  it('renders roles without a wildcard, and the same rules as config/rbac', async () => {
    const rendered = objects(await template());
    const userRoles = [`${fullname}-cells-admin`, `${fullname}-cells-view`];
    const roles = rendered.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && !userRoles.includes(o.metadata.name));
    expect(roles.map((r) => r.kind).sort()).toEqual(['ClusterRole', 'Role']);
    for (const role of rendered.filter((o) => userRoles.includes(o.metadata.name))) expect(wildcards((role.rules as never[]) ?? [])).toEqual([]);
    for (const role of roles) expect(wildcards((role.rules as never[]) ?? [])).toEqual([]);
    const plain = (file: string) => (objects(readFileSync(path.join(root, 'config/rbac', file), 'utf8'))[0]?.rules as unknown[]);
    expect(roles.find((r) => r.kind === 'ClusterRole')?.rules).toEqual(plain('role.yaml'));
    expect(roles.find((r) => r.kind === 'Role')?.rules).toEqual(plain('leader-election-role.yaml'));
  }, TIMEOUT_MS);

  it('renders what the API server accepts (server-side dry run), CRDs included, with no Pod Security warning', async () => {
    const crds = objects(await template(['--include-crds'])).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['cellrebalancepolicies.cells.platform.io', 'cellreleases.cells.platform.io', 'cells.cells.platform.io', 'customerplacements.cells.platform.io', 'migrations.cells.platform.io']);
    const crdYaml = crds.map((c) => JSON.stringify(c)).join('\n');
    // The e2e setup applied the CRDs under its own field manager: take them over, in the dry run only.
    await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], { input: crdYaml });

    // The namespace does warn about workloads: a Deployment of root pods is reported, so an empty
    // stderr below means something.
    const labels = { app: 'as-root' };
    const asRoot = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'as-root', namespace },
      spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    };
    const warned = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: JSON.stringify(asRoot) });
    expect(warned.stderr).toMatch(/would violate PodSecurity "restricted/);

    const yaml = await template();
    const result = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=e2e-helm', '-f', '-'], { input: yaml, allowFailure: true });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const accepted = result.stdout.trim().split('\n');
    expect(accepted.length).toBe(objects(yaml).length);
    for (const line of accepted) expect(line).toMatch(/serverside-applied \(server dry run\)$/);
  }, TIMEOUT_MS);

  it('renders PodMonitors, ServiceMonitors and the PrometheusRule that the Prometheus Operator CRDs accept', async () => {
    const yaml = await template(['--set', 'metrics.podMonitor.enabled=true,metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true']);
    const monitoring = objects(yaml).filter((o) => o.apiVersion === 'monitoring.coreos.com/v1');
    expect(monitoring.map((o) => o.kind).sort()).toEqual(['PodMonitor', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor', 'ServiceMonitor']);
    const result = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=e2e-helm', '-f', '-'], { input: monitoring.map((o) => JSON.stringify(o)).join('\n'), allowFailure: true });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const dashboards = objects(yaml).find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')) as unknown as { data: Record<string, string> };
    expect(Object.keys(dashboards.data).sort()).toEqual(['cell-operator-fleet.json', 'cell-operator.json']);
  }, TIMEOUT_MS);

  it('takes its images from global.imageRegistry and its security contexts from the values, and stays restricted without fixed ids (OpenShift)', async () => {
    const pods = (yaml: string) =>
      objects(yaml).flatMap((o) => {
        const spec = (o as { spec?: { template?: { spec?: PodSpec } } }).spec?.template?.spec ?? (o.kind === 'Pod' ? (o as unknown as { spec: PodSpec }).spec : undefined);
        return spec ? [spec] : [];
      });
    const mirrored = pods(await template(['--set', 'global.imageRegistry=registry.example.com:5000/mirror']));
    expect(new Set(mirrored.flatMap((p) => p.containers.map((c) => c.image)))).toEqual(
      new Set(['registry.example.com:5000/mirror/cell-operator/cell-operator:0.1.0', 'registry.example.com:5000/mirror/postgres:17']),
    );
    const openshift = await template(['--set', 'podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null,podSecurityContext.fsGroup=null,controlPlane.postgres.enabled=false,controlPlane.databaseUrl=postgres://u:p@db.example:5432/cp']);
    for (const pod of pods(openshift)) expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const result = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=e2e-helm', '-f', '-'], { input: openshift, allowFailure: true });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  }, TIMEOUT_MS);

  it('has a helm test pod that asks the operator and the router through their Services', async () => {
    const [pod] = objects(await template(['--show-only', 'templates/tests/answers.yaml'])) as unknown as { metadata: { annotations: Record<string, string> }; spec: PodSpec & { containers: { args: string[]; env: { name: string; value: string }[] }[] } }[];
    expect(pod!.metadata.annotations['helm.sh/hook']).toBe('test');
    const env = Object.fromEntries(pod!.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(env).toEqual({ OPERATOR: `http://${fullname}-metrics.${namespace}.svc:8080`, ROUTER: `http://${fullname}-router.${namespace}.svc:8090` });
    expect(pod!.spec.containers[0]!.args[0]).toContain("'/readyz'");
  }, TIMEOUT_MS);

  describe('installed', () => {
    beforeAll(async () => {
      await helm(['install', release, CHART, '--namespace', namespace, '--wait', '--timeout', '150s', '--set', 'image.repository=cell-operator,image.tag=e2e']);
    }, TIMEOUT_MS);

    it('runs the operator with 2 Ready replicas, its ServiceAccount, leader election and the database URL from a Secret', async () => {
      const deploy = await kubectlJson<K8sObject & { spec: { template: { spec: PodSpec } }; status?: { readyReplicas?: number } }>(['get', 'deployment', fullname, '-n', namespace]);
      expect(deploy.status?.readyReplicas).toBe(2);
      const pod = deploy.spec.template.spec;
      expect(pod.serviceAccountName).toBe(fullname);
      const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e]));
      expect(env.LEADER_ELECT?.value).toBe('true');
      expect(env.POD_NAME?.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } });
      expect(env.POD_NAMESPACE?.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } });
      expect(env.CONTROL_PLANE_DATABASE_PASSWORD?.valueFrom).toEqual({ secretKeyRef: { name: `${fullname}-postgres`, key: 'password' } });
      expect(env.CONTROL_PLANE_DATABASE_URL?.value).toBe(`postgres://cell_operator:$(CONTROL_PLANE_DATABASE_PASSWORD)@${fullname}-postgres.${namespace}.svc:5432/cell_operator`);
      // TLS with verify-full against the chart's PostgreSQL CA, generated once into <release>-postgres-tls.
      expect([env.PGSSLMODE?.value, env.PGSSLROOTCERT?.value]).toEqual(['verify-full', '/etc/cell-operator/control-plane-tls/ca.crt']);
      expect(pod.volumes?.find((v) => v.name === 'control-plane-tls')?.secret).toMatchObject({ secretName: `${fullname}-postgres-tls`, items: [{ key: 'ca.crt', path: 'ca.crt' }] });
      const tls = await kubectlJson<{ type: string; data: Record<string, string> }>(['get', 'secret', `${fullname}-postgres-tls`, '-n', namespace]);
      expect(tls.type).toBe('kubernetes.io/tls');
      const cert = new X509Certificate(Buffer.from(tls.data['tls.crt'] ?? '', 'base64'));
      expect(cert.checkHost(`${fullname}-postgres.${namespace}.svc`)).toBeDefined();
      expect(cert.checkIssued(new X509Certificate(Buffer.from(tls.data['ca.crt'] ?? '', 'base64')))).toBe(true);
    });

    it('runs the router with its own ServiceAccount and no API token, and the write token mounted from a Secret', async () => {
      const deploy = await kubectlJson<K8sObject & { spec: { template: { spec: PodSpec } }; status?: { readyReplicas?: number } }>(['get', 'deployment', `${fullname}-router`, '-n', namespace]);
      expect(deploy.status?.readyReplicas).toBe(2);
      const pod = deploy.spec.template.spec;
      expect(pod.serviceAccountName).toBe(`${fullname}-router`);
      expect(pod.automountServiceAccountToken).toBe(false);
      const sa = await kubectlJson<{ automountServiceAccountToken?: boolean }>(['get', 'serviceaccount', `${fullname}-router`, '-n', namespace]);
      expect(sa.automountServiceAccountToken).toBe(false);
      expect(pod.volumes?.find((v) => v.name === 'token')?.secret?.secretName).toBe(`${fullname}-router-token`);
      const token = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', `${fullname}-router-token`, '-n', namespace]);
      expect(Buffer.from(token.data.token ?? '', 'base64').toString().length).toBe(40);
    });

    it('runs PostgreSQL from its StatefulSet with a bound volume and a generated password', async () => {
      const sts = await kubectlJson<{ status?: { readyReplicas?: number } }>(['get', 'statefulset', `${fullname}-postgres`, '-n', namespace]);
      expect(sts.status?.readyReplicas).toBe(1);
      const pvc = await kubectlJson<{ status?: { phase?: string } }>(['get', 'pvc', `data-${fullname}-postgres-0`, '-n', namespace]);
      expect(pvc.status?.phase).toBe('Bound');
      const secret = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', `${fullname}-postgres`, '-n', namespace]);
      expect(Buffer.from(secret.data.password ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{40}$/);
    });

    it('has Services that select the pods of their component', async () => {
      for (const [service, port, ready] of [[`${fullname}-router`, 8090, 2], [`${fullname}-postgres`, 5432, 1], [`${fullname}-metrics`, 8080, 2]] as const) {
        await waitFor(
          async () => {
            const slices = await kubectlJson<{ items: { endpoints?: { conditions?: { ready?: boolean } }[]; ports?: { port?: number }[] }[] }>([
              'get', 'endpointslices', '-n', namespace, '-l', `kubernetes.io/service-name=${service}`,
            ]);
            const endpoints = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready);
            const ports = slices.items.flatMap((s) => s.ports ?? []).map((p) => p.port);
            return endpoints.length === ready && ports.includes(port);
          },
          { timeoutMs: 60_000, description: `${service} to have ${ready} ready endpoints on port ${port}` },
        );
      }
    }, TIMEOUT_MS);

    it('gives the operator its roles through its ServiceAccount and the router none', async () => {
      const as = (sa: string) => `--as=system:serviceaccount:${namespace}:${sa}`;
      const can = async (sa: string, ...args: string[]) => (await kubectl(['auth', 'can-i', ...args, as(sa)], { allowFailure: true })).stdout.trim();
      expect(await can(fullname, 'patch', 'cells.cells.platform.io/status')).toBe('yes');
      expect(await can(fullname, 'create', 'kafkas.kafka.strimzi.io', '-n', 'cell-x')).toBe('yes');
      expect(await can(fullname, 'delete', 'statefulsets.apps', '-n', 'cell-x')).toBe('yes');
      expect(await can(fullname, 'update', 'leases.coordination.k8s.io/cell-operator', '-n', namespace)).toBe('yes');
      expect(await can(fullname, 'update', 'leases.coordination.k8s.io/another', '-n', namespace)).toBe('no');
      expect(await can(fullname, 'update', 'cells.cells.platform.io')).toBe('no');
      expect(await can(fullname, 'get', 'pods', '-n', namespace)).toBe('no');
      expect(await can(`${fullname}-router`, 'get', 'cells.cells.platform.io')).toBe('no');
    });

    it('lets people who hold view read cells and migrations, and those who hold edit steer migrations, through the aggregated roles', async () => {
      const viewer = `e2e-viewer-${suffix}`;
      const editor = `e2e-editor-${suffix}`;
      for (const [user, role] of [[viewer, 'view'], [editor, 'edit']] as const) {
        await kubectl(['create', 'clusterrolebinding', user, `--clusterrole=${role}`, `--user=${user}`]);
      }
      try {
        const can = async (user: string, ...args: string[]) => (await kubectl(['auth', 'can-i', ...args, `--as=${user}`], { allowFailure: true })).stdout.trim();
        // kube-controller-manager aggregates the rules into view and edit shortly after install.
        await waitFor(async () => (await can(viewer, 'list', 'cells.cells.platform.io')) === 'yes' && (await can(editor, 'patch', 'migrations.cells.platform.io')) === 'yes', {
          timeoutMs: 60_000,
          description: 'the cells roles to be aggregated into view and edit',
        });
        expect(await can(viewer, 'get', 'migrations.cells.platform.io', '--subresource=status')).toBe('yes');
        expect(await can(viewer, 'patch', 'migrations.cells.platform.io')).toBe('no');
        expect(await can(editor, 'create', 'cells.cells.platform.io')).toBe('yes');
        expect(await can(editor, 'patch', 'cells.cells.platform.io', '--subresource=status')).toBe('no');
        expect(await can(editor, 'get', 'cells.cells.platform.io', '--subresource=status')).toBe('yes');
      } finally {
        await kubectl(['delete', 'clusterrolebinding', viewer, editor, '--ignore-not-found']);
      }
    }, TIMEOUT_MS);

    it('keeps the generated password and token across an upgrade', async () => {
      const read = async (name: string) => (await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', name, '-n', namespace])).data;
      const before = { db: await read(`${fullname}-postgres`), token: await read(`${fullname}-router-token`) };
      await helm(['upgrade', release, CHART, '--namespace', namespace, '--reuse-values', '--set', 'router.replicas=3', '--wait', '--timeout', '150s']);
      expect({ db: await read(`${fullname}-postgres`), token: await read(`${fullname}-router-token`) }).toEqual(before);
      const deploy = await kubectlJson<{ status?: { readyReplicas?: number } }>(['get', 'deployment', `${fullname}-router`, '-n', namespace]);
      expect(deploy.status?.readyReplicas).toBe(3);
    }, TIMEOUT_MS);
  });
});

interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: { name: string; image: string; env: { name: string; value?: string; valueFrom?: unknown }[] }[];
  volumes?: { name: string; secret?: { secretName?: string } }[];
  securityContext?: Record<string, unknown>;
}
