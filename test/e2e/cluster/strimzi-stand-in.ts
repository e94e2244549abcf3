// The Strimzi stand-in of the local control plane (the Strimzi operators cannot run without
// containers): a small process that lists every Kafka, KafkaNodePool, KafkaTopic and KafkaUser
// (kafka.strimzi.io/v1) twice a second and writes the status strimzi-judge.ts gives each, once per
// change, after the object's delay annotation. Started by local-cluster.ts as a component:
//   node --import tsx strimzi-stand-in.ts --kubeconfig <admin kubeconfig> --port <health port>
import { createServer } from 'node:http';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { delayMs, judgeAll, type Condition, type Judged, type StrimziObject } from './strimzi-judge.js';

const PLURALS: Record<StrimziObject['kind'], string> = { Kafka: 'kafkas', KafkaNodePool: 'kafkanodepools', KafkaTopic: 'kafkatopics', KafkaUser: 'kafkausers' };
const GROUP = 'kafka.strimzi.io';
const VERSION = 'v1';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (!value) throw new Error(`strimzi-stand-in: --${name} is required`);
  return value;
}

/** Deep equality of JSON values, key order ignored. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The judged status with lastTransitionTime kept where a condition did not change. */
function withTransitions(judged: Judged, current: { conditions?: (Condition & { lastTransitionTime?: string })[] } | undefined, now: string) {
  const conditions = judged.conditions.map((c) => {
    const before = current?.conditions?.find((x) => x.type === c.type && x.status === c.status && x.reason === c.reason && x.message === c.message);
    return { ...c, lastTransitionTime: before?.lastTransitionTime ?? now };
  });
  return { ...judged, conditions };
}

/** Only the keys the judge writes, to compare with the judged status. */
function comparable(status: Record<string, unknown> | undefined, judged: Judged): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(judged)) {
    const v = status?.[k];
    out[k] = k === 'conditions' && Array.isArray(v) ? v.map(({ lastTransitionTime: _t, ...c }: Record<string, unknown>) => c) : v;
  }
  return out;
}

async function main(): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(arg('kubeconfig'));
  const api = kc.makeApiClient(CustomObjectsApi);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const firstSeen = new Map<string, number>(); // `key@generation` -> when first seen
  let healthy = false;
  createServer((req, res) => {
    res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'not yet');
  }).listen(Number(arg('port')), '127.0.0.1');

  for (;;) {
    try {
      const objects: StrimziObject[] = [];
      for (const [kind, plural] of Object.entries(PLURALS) as [StrimziObject['kind'], string][]) {
        const list = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as { items: StrimziObject[] };
        for (const item of list.items) objects.push({ ...item, kind });
      }
      const judged = judgeAll(objects);
      const now = Date.now();
      for (const o of objects) {
        const key = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
        const status = judged.get(key);
        if (!status || (o.metadata as { deletionTimestamp?: string }).deletionTimestamp) continue;
        if (same(comparable(o.status, status), status)) continue;
        const seen = `${key}@${o.metadata.generation ?? 1}`;
        if (!firstSeen.has(seen)) firstSeen.set(seen, now);
        if (now - (firstSeen.get(seen) as number) < delayMs(o)) continue;
        const body = { status: withTransitions(status, o.status, new Date(now).toISOString().replace(/\.\d+Z$/, 'Z')) };
        await api
          .patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: PLURALS[o.kind], namespace: o.metadata.namespace, name: o.metadata.name, body }, mergePatch)
          .catch((err: Error) => console.error(`patching the status of ${key}: ${err.message}`));
      }
      healthy = true;
    } catch (err) {
      console.error(`listing the Strimzi objects: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
