// The Stages given to kwok with --config: kwok's own default node, pod and volume Stages (a
// standalone kwok has none built in; they are read from its source in the Go module cache). The
// Strimzi kinds are judged by strimzi-stand-in.ts, which a Stage cannot do (it sees one object).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

/** kwok's "fast" Stages as kwokctl configures them (node heartbeat through the node lease). */
const KWOK_STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
  'kustomize/stage/volume/fast/pvc-provision.yaml',
  'kustomize/stage/volume/fast/pvc-delete.yaml',
  'kustomize/stage/volume/fast/pv-bind.yaml',
  'kustomize/stage/volume/fast/pv-delete.yaml',
];

/**
 * A container image whose tag ends with this never becomes ready: kwok's pod-ready Stage skips pods
 * with such a container, so they stay Pending. The release tests use it for a bad version.
 */
export const NEVER_READY_IMAGE_SUFFIX = '-never-ready';

/** The pod-ready Stage, narrowed to pods none of whose containers runs a never-ready image. */
export function withNeverReadyImages(stage: object): object {
  const s = stage as { metadata?: { name?: string }; spec?: { selector?: { matchExpressions?: object[] } } };
  if (s.metadata?.name !== 'pod-ready' || !s.spec?.selector) return stage;
  const expression = {
    key: `.spec.containers.[] | select( .image | endswith("${NEVER_READY_IMAGE_SUFFIX}") ) | .image`,
    operator: 'DoesNotExist',
  };
  return { ...s, spec: { ...s.spec, selector: { ...s.spec.selector, matchExpressions: [...(s.spec.selector.matchExpressions ?? []), expression] } } };
}

/** The StorageClass that kwok's volume Stages provision for (made the default class). */
export const KWOK_STORAGE_CLASS = 'kustomize/stage/volume/fast/storage-class.yaml';

function readDocuments(file: string): object[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJS() as object | null)
    .filter((doc): doc is object => doc !== null);
}

export function writeKwokConfig(file: string, kwokDir: string): void {
  const stages = KWOK_STAGE_FILES.flatMap((f) => readDocuments(path.join(kwokDir, f))).map(withNeverReadyImages);
  writeFileSync(file, stages.map((s) => stringify(s, { lineWidth: 0 })).join('---\n'));
}
