// The one hook between kwok's Strimzi stand-in and a real broker: after the Stage has written a
// Kafka's status (once per generation), the test writes the real broker's address into the plain
// listener's bootstrapServers, as Strimzi would report its own. The Cell controller then copies it
// to status.endpoints.kafkaBootstrap and the routing table, where the move's Kafka drain and the
// router's answers find it. The Stage does not write the status again until the generation moves.
import { kubectl, kubectlJson, waitFor } from './kube.js';

interface KafkaStatus {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; listeners?: { name?: string; bootstrapServers?: string; addresses?: { host?: string; port?: number }[] }[] };
}

/** Points the Kafka of cell `cell` (namespace `cell-<cell>`) at `bootstrap` (host:port) in its status. */
export async function reportRealBroker(cell: string, bootstrap: string, namespace = `cell-${cell}`): Promise<void> {
  const kafka = await waitFor(
    async () => {
      const k = await kubectlJson<KafkaStatus>(['get', 'kafka', cell, '-n', namespace, '-o', 'json']).catch(() => undefined);
      return k?.status?.listeners?.length && k.status.observedGeneration === k.metadata.generation ? k : undefined;
    },
    { timeoutMs: 60_000, description: `the Kafka of cell ${cell} to have a status` },
  );
  const [host, port] = bootstrap.split(':');
  const listeners = (kafka.status?.listeners ?? []).map((l) => (l.name === 'plain' ? { ...l, bootstrapServers: bootstrap, addresses: [{ host, port: Number(port) }] } : l));
  const patch = JSON.stringify({ status: { listeners } });
  await kubectl(['patch', 'kafka', cell, '-n', namespace, '--subresource=status', '--type=merge', '-p', patch]);
}
