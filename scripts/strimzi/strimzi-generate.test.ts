import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { defaultSharedDir, FIXTURE_CURRENT, generateStrimzi, stripDescriptions } from './strimzi-generate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = defaultSharedDir(root);
// Without ../shared (a clone on its own) there is nothing to compare with: the test shows as skipped.
const withSources = existsSync(shared) ? it : it.skip;

describe('Strimzi generation', () => {
  withSources('keeps the committed Strimzi types and CRD copies up to date (else run npm run gen:strimzi)', async () => {
    const files = await generateStrimzi(shared);
    expect(Object.keys(files)).toHaveLength(7);
    for (const [path, content] of Object.entries(files)) {
      const committed = readFileSync(join(root, path), 'utf8');
      if (committed !== content) throw new Error(`${path} is stale: run npm run gen:strimzi`);
    }
  });

  it('removes descriptions but keeps a property that is named description', () => {
    const schema = {
      type: 'object',
      description: 'drop me',
      properties: { description: { type: 'string', description: 'drop me too' }, list: { type: 'array', items: { type: 'string', description: 'x' } } },
    };
    expect(stripDescriptions(schema)).toEqual({
      type: 'object',
      properties: { description: { type: 'string' }, list: { type: 'array', items: { type: 'string' } } },
    });
  });

  it('ships the four Strimzi CRDs serving kafka.strimzi.io/v1 without descriptions', () => {
    const docs = parseAllDocuments(readFileSync(join(root, FIXTURE_CURRENT), 'utf8')).map((d) => d.toJSON());
    expect(docs.map((d) => d.spec.names.kind).sort()).toEqual(['Kafka', 'KafkaNodePool', 'KafkaTopic', 'KafkaUser']);
    for (const crd of docs) {
      expect(crd.spec.versions.map((v: { name: string }) => v.name)).toContain('v1');
      expect(JSON.stringify(crd.spec.versions[0].schema)).not.toContain('"description"');
    }
  });
});
