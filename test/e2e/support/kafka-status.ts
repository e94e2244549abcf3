// The one hook between the Strimzi stand-in and a real broker: the test annotates a cell's Kafka with
// the real broker's address (strimzi-judge.ts's `strimzi.kwok.x-k8s.io/bootstrap-servers`), and the
// stand-in reports it in every listener's bootstrapServers, as Strimzi would report its own. The Cell
// controller then copies it to status.endpoints.kafkaBootstrap and the routing table, where the
// move's Kafka drain and the router's answers find it. The operator's server-side apply leaves the
// annotation alone (another field manager owns it). Used by the e2e suites and by `npm run demo`
// (with its own kubectl).
import { STRIMZI_ANNOTATIONS } from '../cluster/strimzi-judge.js';
import type { Kubectl } from '../cluster/crds.js';
import { kubectl as e2eKubectl, waitFor } from './kube.js';

/**
 * Points the Kafka of cell `cell` (namespace `cell-<cell>`) at `bootstrap` (host:port), through the
 * stand-in; waits up to a minute for the operator to have created that Kafka.
 */
export async function reportRealBroker(cell: string, bootstrap: string, namespace = `cell-${cell}`, kubectl: Kubectl = e2eKubectl): Promise<void> {
  await waitFor(async () => (await kubectl(['get', 'kafka', cell, '-n', namespace, '-o', 'name'], { allowFailure: true })).code === 0, {
    timeoutMs: 60_000,
    description: `the Kafka of cell ${cell} to exist`,
  });
  await kubectl(['annotate', '--overwrite', 'kafka', cell, '-n', namespace, `${STRIMZI_ANNOTATIONS.bootstrapServers}=${bootstrap}`]);
}
