// kwok Stages that play the Strimzi cluster operator on the local control plane (it cannot run
// without containers): they write the status of Kafka, KafkaNodePool, KafkaTopic and KafkaUser
// (kafka.strimzi.io/v1) the way Strimzi does, once per generation.
//
// Knobs for tests, as annotations on a Strimzi object:
//   strimzi.kwok.x-k8s.io/delay: "5s"      time before the status is written (default 1s)
//   strimzi.kwok.x-k8s.io/ready: "False"   report not ready instead of Ready (Kafka, topics, users);
//   strimzi.kwok.x-k8s.io/reason, /message the condition's reason and message when not ready.
// Changing `ready` re-runs the Stage although the generation does not move.

export const STRIMZI_ANNOTATIONS = {
  delay: 'strimzi.kwok.x-k8s.io/delay',
  ready: 'strimzi.kwok.x-k8s.io/ready',
  reason: 'strimzi.kwok.x-k8s.io/reason',
  message: 'strimzi.kwok.x-k8s.io/message',
} as const;

const A = STRIMZI_ANNOTATIONS;

const generationLags = '(.metadata.generation != (.status.observedGeneration // -1))';
const readyDisagrees =
  `((((.metadata.annotations // {})["${A.ready}"] // "True") == "True")` +
  ' != ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length > 0))';

/** Go-template lines shared by the status templates: `$now`, `$annotations`, `$ready`. */
const prelude = `{{ $now := Now }}
{{ $annotations := or .metadata.annotations dict }}
{{ $ready := eq (or (index $annotations "${A.ready}") "True") "True" }}
`;

/** Strimzi's conditions: Ready, or a not-ready condition of type `notReadyType`. */
function conditions(notReadyType: 'NotReady' | 'Ready', defaultReason: string, defaultMessage: string): string {
  const notReadyStatus = notReadyType === 'NotReady' ? '"True"' : '"False"';
  return `conditions:
{{ if $ready }}
- type: Ready
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ else }}
- type: ${notReadyType}
  status: ${notReadyStatus}
  lastTransitionTime: {{ $now | Quote }}
  reason: {{ or (index $annotations "${A.reason}") "${defaultReason}" | Quote }}
  message: {{ or (index $annotations "${A.message}") "${defaultMessage}" | Quote }}
{{ end }}
`;
}

const KAFKA_STATUS = `${prelude}{{ $name := .metadata.name }}
{{ $ns := .metadata.namespace }}
{{ $kafka := or .spec.kafka dict }}
observedGeneration: {{ .metadata.generation }}
clusterId: {{ printf "%s/%s" $ns $name | sha256sum | trunc 22 | Quote }}
operatorLastSuccessfulVersion: "1.2.0"
{{ with index $kafka "version" }}
kafkaVersion: {{ . | Quote }}
{{ end }}
{{ with index $kafka "metadataVersion" }}
kafkaMetadataVersion: {{ . | Quote }}
{{ end }}
listeners:
{{ range (or (index $kafka "listeners") list) }}
- name: {{ .name | Quote }}
  addresses:
  - host: {{ printf "%s-kafka-bootstrap.%s.svc" $name $ns | Quote }}
    port: {{ .port }}
  bootstrapServers: {{ printf "%s-kafka-bootstrap.%s.svc:%v" $name $ns .port | Quote }}
{{ end }}
${conditions('NotReady', 'Creating', 'Kafka cluster is being deployed')}`;

// The cluster id is the Kafka's (both derive it from namespace/cluster name). Strimzi numbers nodes across all pools of a cluster; a Stage sees one object, so each pool takes
// a block of 100 ids chosen from its name (distinct in practice, not guaranteed). Strimzi sets no
// Ready condition on node pools.
const NODE_POOL_STATUS = `{{ $labels := or .metadata.labels dict }}
{{ $cluster := or (index $labels "strimzi.io/cluster") "" }}
{{ $base := mul (mod (atoi (adler32sum .metadata.name)) 100) 100 }}
observedGeneration: {{ .metadata.generation }}
replicas: {{ .spec.replicas }}
nodeIds:
{{ range $i := until (int .spec.replicas) }}
- {{ add $base $i }}
{{ end }}
roles:
{{ range (or .spec.roles list) }}
- {{ . | Quote }}
{{ end }}
clusterId: {{ printf "%s/%s" .metadata.namespace $cluster | sha256sum | trunc 22 | Quote }}
labelSelector: {{ printf "strimzi.io/cluster=%s,strimzi.io/name=%s-kafka,strimzi.io/kind=Kafka,strimzi.io/pool-name=%s" $cluster $cluster .metadata.name | Quote }}
conditions: []
`;

const TOPIC_STATUS = `${prelude}observedGeneration: {{ .metadata.generation }}
topicName: {{ or (index (or .spec dict) "topicName") .metadata.name | Quote }}
topicId: {{ .metadata.uid | replace "-" "" | trunc 22 | Quote }}
${conditions('Ready', 'KafkaError', 'Kafka topic could not be reconciled')}`;

// Strimzi names TLS users after their certificate subject, SCRAM users after the object.
const USER_STATUS = `${prelude}{{ $auth := or (index (or .spec dict) "authentication") dict }}
{{ $type := or (index $auth "type") "" }}
observedGeneration: {{ .metadata.generation }}
username: {{ if or (eq $type "tls") (eq $type "tls-external") }}{{ printf "CN=%s" .metadata.name | Quote }}{{ else }}{{ .metadata.name | Quote }}{{ end }}
secret: {{ .metadata.name | Quote }}
${conditions('Ready', 'KafkaError', 'Kafka user could not be reconciled')}`;

function stage(kind: string, statusTemplate: string, followsReadyAnnotation: boolean): object {
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: `strimzi-${kind.toLowerCase()}` },
    spec: {
      resourceRef: { apiGroup: 'kafka.strimzi.io/v1', kind },
      selector: {
        matchExpressions: [
          { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
          {
            key: followsReadyAnnotation ? `${generationLags} or ${readyDisagrees}` : generationLags,
            operator: 'In',
            values: ['true'],
          },
        ],
      },
      delay: { durationMilliseconds: 1000, durationFrom: { expressionFrom: `.metadata.annotations["${A.delay}"]` } },
      steps: [{ patch: { subresource: 'status', root: 'status', type: 'merge', template: statusTemplate } }],
    },
  };
}

export function strimziStages(): object[] {
  return [
    stage('Kafka', KAFKA_STATUS, true),
    stage('KafkaNodePool', NODE_POOL_STATUS, false),
    stage('KafkaTopic', TOPIC_STATUS, true),
    stage('KafkaUser', USER_STATUS, true),
  ];
}
