// The manifests of examples/cells/ as e2e tests and the benchmark apply them: the same files a
// newcomer applies, with the external databases pointed at a throw-away PostgreSQL server.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseCellSpec, type Cell } from '../../../src/crds/cell.js';
import { API_VERSION } from '../../../src/crds/group.js';
import { formatFieldErrors } from '../../../src/crds/parse.js';
import { projectRoot } from '../cluster/paths.js';

export const EXAMPLES_DIR = 'examples/cells';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface CellManifest extends Manifest {
  spec: {
    region: string;
    database: { external?: { host: string; port?: number; database: string; secretRef: { name: string; namespace: string } }; [key: string]: unknown };
    [key: string]: unknown;
  };
}

/** Every document of examples/cells/*.yaml, in the order `kubectl apply -f examples/cells/` applies them. */
export function exampleManifests(options: { database?: { host: string; port: number } } = {}): Manifest[] {
  const dir = path.join(projectRoot(), EXAMPLES_DIR);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const docs = files.flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'))
      .map((d) => d.toJS() as Manifest | null)
      .filter((d): d is Manifest => d !== null),
  );
  const { database } = options;
  if (!database) return docs;
  return docs.map((doc) => {
    if (doc.kind !== 'Cell') return doc;
    const cell = structuredClone(doc) as CellManifest;
    if (cell.spec.database.external) cell.spec.database.external = { ...cell.spec.database.external, host: database.host, port: database.port };
    return cell;
  });
}

export function exampleCellManifests(options: Parameters<typeof exampleManifests>[0] = {}): CellManifest[] {
  return exampleManifests(options).filter((m): m is CellManifest => m.kind === 'Cell');
}

/** A Cell manifest as the reconciler sees it after the API server's defaulting (zod defaults). */
export function parsedCell(manifest: CellManifest, metadata: { uid: string; generation?: number }): Cell {
  const parsed = parseCellSpec(manifest.spec);
  if (!parsed.ok) throw new Error(`invalid example Cell ${manifest.metadata.name}: ${formatFieldErrors(parsed.errors)}`);
  return {
    apiVersion: API_VERSION,
    kind: 'Cell',
    metadata: { name: manifest.metadata.name, uid: metadata.uid, generation: metadata.generation ?? 1 },
    spec: parsed.value,
  };
}
