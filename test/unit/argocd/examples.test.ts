// The Argo CD examples (examples/argocd/): the region manifests are valid objects in the right sync
// waves, and the ApplicationSets split each region into a cells and a migrations Application.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CellSpecSchema, CustomerPlacementSpecSchema, MigrationSpecSchema } from '../../../src/crds/index.js';

const EXAMPLES = path.join(process.cwd(), 'examples/argocd');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const full = path.join(dir, e);
    return statSync(full).isDirectory() ? yamlFiles(full) : full.endsWith('.yaml') ? [full] : [];
  });
}

const load = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    expect({ file, errors: d.errors }).toEqual({ file, errors: [] });
    return d.toJS() as Obj;
  });

const regionObjects = yamlFiles(path.join(EXAMPLES, 'regions')).flatMap((file) => load(file).map((obj) => ({ file: path.relative(EXAMPLES, file), obj })));
const WAVES = { Cell: undefined, CustomerPlacement: '1', Migration: '2' } as const;
const SPECS = { Cell: CellSpecSchema, CustomerPlacement: CustomerPlacementSpecSchema, Migration: MigrationSpecSchema } as const;

describe('the Argo CD examples', () => {
  it('hold valid Cells, CustomerPlacements and Migrations in the documented sync waves and directories', () => {
    expect(regionObjects.map((o) => o.obj.kind).sort()).toEqual(['Cell', 'Cell', 'CustomerPlacement', 'Migration']);
    for (const { file, obj } of regionObjects) {
      const kind = obj.kind as keyof typeof SPECS;
      expect(obj.apiVersion).toBe('cells.platform.io/v1alpha1');
      const parsed = SPECS[kind].safeParse(obj.spec);
      expect({ file, valid: parsed.success ? true : parsed.error.message }).toEqual({ file, valid: true });
      expect({ file, wave: obj.metadata.annotations?.['argocd.argoproj.io/sync-wave'] }).toEqual({ file, wave: WAVES[kind] });
      const dir = { Cell: 'cells', CustomerPlacement: 'customers', Migration: 'migrations' }[kind];
      expect(file.split(path.sep)[2]).toBe(dir);
    }
  });

  it('make one cells and one migrations Application per region directory', () => {
    const sets = load(path.join(EXAMPLES, 'applicationset.yaml')) as unknown as {
      kind: string;
      spec: {
        generators: { git: { directories: { path: string }[] } }[];
        template: { metadata: { name: string }; spec: { source: { directory?: { exclude?: string } }; syncPolicy: { automated: { prune: boolean }; syncOptions: string[] } } };
      };
    }[];
    expect(sets.map((s) => s.kind)).toEqual(['ApplicationSet', 'ApplicationSet']);
    const [cells, migrations] = sets;
    expect(cells!.spec.generators[0]!.git.directories[0]!.path).toBe('regions/*');
    expect(cells!.spec.template.metadata.name).toBe('cells-{{ .path.basename }}');
    expect(cells!.spec.template.spec.source.directory?.exclude).toBe('migrations/*');
    expect(cells!.spec.template.spec.syncPolicy.automated.prune).toBe(false);
    expect(migrations!.spec.generators[0]!.git.directories[0]!.path).toBe('regions/*/migrations');
    expect(migrations!.spec.template.metadata.name).toBe('migrations-{{ index .path.segments 1 }}');
    for (const set of sets) expect(set.spec.template.spec.syncPolicy.syncOptions).toContain('SkipDryRunOnMissingResource=true');
  });

  it('install the operator with Secrets of the user, not ones the chart would regenerate on every render', () => {
    const [app] = load(path.join(EXAMPLES, 'operator.yaml')) as unknown as { spec: { source: { path: string; helm: { valuesObject: { controlPlane: { postgres: { existingSecret: string } }; router: { token: { existingSecret: string } } } } } } }[];
    expect(app!.spec.source.path).toBe('charts/cell-operator');
    expect(app!.spec.source.helm.valuesObject.controlPlane.postgres.existingSecret).toBeTruthy();
    expect(app!.spec.source.helm.valuesObject.router.token.existingSecret).toBeTruthy();
  });
});
