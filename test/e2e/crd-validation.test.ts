// The API server itself refuses invalid Cells, CustomerPlacements and Migrations (the CRDs'
// schemas and CEL rules), each with a message naming the offending field: no operator is needed.
// The manifests and the field each error must name are in test/e2e/fixtures/invalid/ (README.md).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kubectl } from './support/kube.js';

const FIXTURES = path.join(process.cwd(), 'test/e2e/fixtures/invalid');

interface InvalidManifest {
  file: string;
  expectField: string;
  createThenUpdate: boolean;
  documents: string[];
}

function header(text: string, key: string): string | undefined {
  return new RegExp(`^# ${key}: *(.+)$`, 'm').exec(text)?.[1]?.trim();
}

function loadFixtures(): InvalidManifest[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(FIXTURES, file), 'utf8');
      const expectField = header(text, 'expect-field');
      if (!expectField) throw new Error(`${file} has no "# expect-field:" header`);
      const documents = parseAllDocuments(text)
        .filter((doc) => doc.contents !== null)
        .map((doc) => doc.toString());
      return { file, expectField, createThenUpdate: header(text, 'steps') === 'create-then-update', documents };
    });
}

/**
 * True when `message` names `field`, or a path inside it, as a field path: the API server writes
 * `<path>: <reason>` (`spec.steps[2].move: Invalid value: ...`) or, for an unknown field,
 * `unknown field "spec.paused.duration"`. `spec.region` is not named by `spec.regions`.
 */
function namesField(message: string, field: string): boolean {
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s,"'(\\[])${escaped}([:,"'.[\\s]|$)`, 'm').test(message);
}

// `kubectl apply` as a person types it: a create for a new object, a patch for an update.
const apply = (manifest: string) => kubectl(['apply', '-f', '-'], { input: manifest, allowFailure: true });
const TIMEOUT_MS = 60_000;

const fixtures = loadFixtures();
const crdsInstalled = (process.env.E2E_CRDS ?? '').includes('cells.platform.io');
const describeIfCrds = crdsInstalled ? describe : describe.skip;
if (!crdsInstalled) process.stderr.write('crd-validation: the cell-operator CRDs are not installed (config/crd/ empty): skipped\n');

describeIfCrds('the API server refuses invalid manifests with a message naming the field', () => {
  afterAll(async () => {
    const objects = fixtures.map((f) => f.documents[0]!).join('\n---\n');
    await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: objects, allowFailure: true });
  }, TIMEOUT_MS);

  it('has invalid manifests to try', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it.each(fixtures.map((f) => [f.file, f.expectField, f] as const))('refuses %s, naming %s', async (file, field, fixture) => {
    let refused;
    if (fixture.createThenUpdate) {
      expect(fixture.documents).toHaveLength(2);
      const created = await apply(fixture.documents[0]!);
      if (created.code !== 0) throw new Error(`${file}: the first document must be accepted, but:\n${created.stderr}`);
      refused = await apply(fixture.documents[1]!);
    } else {
      expect(fixture.documents).toHaveLength(1);
      refused = await apply(fixture.documents[0]!);
    }
    if (refused.code === 0) throw new Error(`${file} was accepted: ${refused.stdout.trim()}`);
    const message = refused.stderr.trim();
    if (!namesField(message, field)) throw new Error(`the error does not name ${field}:\n${message}`);
  }, TIMEOUT_MS);
});
