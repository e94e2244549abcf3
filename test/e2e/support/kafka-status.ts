// The one hook between the Strimzi stand-in and a real broker: the test annotates a cell's Kafka with
// the real broker's address (strimzi-judge.ts's `strimzi.kwok.x-k8s.io/bootstrap-servers`), and the
// stand-in reports it in every listener's bootstrapServers, as Strimzi would report its own. The Cell
// controller then copies it to status.endpoints.kafkaBootstrap and the routing table, where the
// move's Kafka drain and the router's answers find it. The operator's server-side apply leaves the
// annotation alone (another field manager owns it).
import { STRIMZI_ANNOTATIONS } from '../cluster/strimzi-judge.js';
import { kubectl, kubectlJson, waitFor } from './kube.js';

/** Points the Kafka of cell `cell` (namespace `cell-<cell>`) at `bootstrap` (host:port), through the stand-in. */
export async function reportRealBroker(cell: string, bootstrap: string, namespace = `cell-${cell}`): Promise<void> {
  await waitFor(async () => kubectlJson<{ metadata: { name: string } }>(['get', 'kafka', cell, '-n', namespace, '-o', 'json']).catch(() => undefined), {
    timeoutMs: 60_000,
    description: `the Kafka of cell ${cell} to exist`,
  });
  await kubectl(['annotate', '--overwrite', 'kafka', cell, '-n', namespace, `${STRIMZI_ANNOTATIONS.bootstrapServers}=${bootstrap}`]);
}
