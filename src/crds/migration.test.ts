/* eslint-disable @typescript-eslint/no-explicit-any -- the cases edit specs into deliberately invalid shapes */
import { parseDuration } from './kube-types.js';
import { moveTarget, parseMigrationSpec, type MigrationSpecInput } from './migration.js';
import { formatFieldErrors } from './parse.js';
import { errorPaths, loadYaml } from '../../test/support/repo-files.js';

const minimal = (): MigrationSpecInput => ({
  from: 'eu-west-1a',
  to: 'eu-west-1b',
  customers: { all: true },
  steps: [{ move: '100%' }],
});

function parseWith(change: (spec: Record<string, any>) => void) {
  const spec = minimal() as Record<string, any>;
  change(spec);
  return parseMigrationSpec(spec);
}

describe('parseMigrationSpec', () => {
  it('accepts the sample Migration, canary steps included', () => {
    const [sample] = loadYaml('config/samples/cells.platform.io_v1alpha1_migration.yaml');
    const result = parseMigrationSpec(sample?.spec);
    if (!result.ok) throw new Error(formatFieldErrors(result.errors));
    expect(result.value.steps).toEqual([{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }]);
  });

  it('fills the defaults: smallest customers first, 4 at a time, one customer a batch, not paused, not aborted, 24h retention', () => {
    const result = parseMigrationSpec(minimal());
    expect(result.ok && result.value).toEqual({
      ...minimal(),
      order: 'SmallestFirst',
      maxConcurrent: 4,
      batchSize: 1,
      drainWait: '2s',
      maxFence: '60s',
      retention: '24h',
      paused: false,
      abort: false,
    });
  });

  it('takes a batchSize from 1 to 200', () => {
    expect(parseWith((s) => (s.batchSize = 50)).ok).toBe(true);
    expect(parseWith((s) => (s.batchSize = 200)).ok).toBe(true);
    expect(parseWith((s) => (s.batchSize = 0)).ok).toBe(false);
    expect(parseWith((s) => (s.batchSize = 201)).ok).toBe(false);
    expect(parseWith((s) => (s.batchSize = 2.5)).ok).toBe(false);
  });

  it('accepts names, a selector with expressions, or all', () => {
    expect(parseWith((s) => (s.customers = { names: ['acme-corp', 'globex'] })).ok).toBe(true);
    const selector = { matchExpressions: [{ key: 'tier', operator: 'In', values: ['standard'] }, { key: 'beta', operator: 'DoesNotExist' }] };
    expect(parseWith((s) => (s.customers = { selector })).ok).toBe(true);
    expect(parseWith((s) => (s.customers = { preferTarget: true })).ok).toBe(true);
  });

  it.each([
    ['the same cell as source and target', (s: any) => (s.to = s.from), 'spec.to'],
    ['a move of 150%', (s: any) => (s.steps = [{ move: 1 }, { pause: { duration: '10m' } }, { move: '150%' }]), 'spec.steps[2].move'],
    ['a move of 0%', (s: any) => (s.steps = [{ move: '0%' }]), 'spec.steps[0].move'],
    ['a move of 0 customers', (s: any) => (s.steps = [{ move: 0 }]), 'spec.steps[0].move'],
    ['a fractional move', (s: any) => (s.steps = [{ move: 1.5 }]), 'spec.steps[0].move'],
    ['a pause with a malformed duration', (s: any) => (s.steps = [{ move: 1 }, { pause: { duration: 'ten minutes' } }]), 'spec.steps[1].pause.duration'],
    ['a step with both move and pause', (s: any) => (s.steps = [{ move: 1, pause: {} }]), 'spec.steps[0]'],
    ['an empty step', (s: any) => (s.steps = [{}]), 'spec.steps[0]'],
    ['no steps', (s: any) => (s.steps = []), 'spec.steps'],
    ['names and all at once', (s: any) => (s.customers = { names: ['acme-corp'], all: true }), 'spec.customers'],
    ['no selection at all', (s: any) => (s.customers = {}), 'spec.customers'],
    ['all: false', (s: any) => (s.customers = { all: false }), 'spec.customers.all'],
    ['preferTarget: false', (s: any) => (s.customers = { preferTarget: false }), 'spec.customers.preferTarget'],
    ['preferTarget and a selector at once', (s: any) => (s.customers = { preferTarget: true, selector: { matchLabels: { tier: 'a' } } }), 'spec.customers'],
    ['an empty selector', (s: any) => (s.customers = { selector: {} }), 'spec.customers.selector'],
    ['an In expression without values', (s: any) => {
      s.customers = { selector: { matchExpressions: [{ key: 'tier', operator: 'In' }] } };
    }, 'spec.customers.selector.matchExpressions[0].values'],
    ['a duplicate customer name', (s: any) => (s.customers = { names: ['acme', 'acme'] }), 'spec.customers.names[1]'],
    ['an invalid customer id', (s: any) => (s.customers = { names: ['Acme Corp'] }), 'spec.customers.names[0]'],
    ['a pause with a duration as spec.paused', (s: any) => (s.paused = { duration: '10m' }), 'spec.paused'],
    ['maxConcurrent 0', (s: any) => (s.maxConcurrent = 0), 'spec.maxConcurrent'],
    ['maxConcurrent above 100', (s: any) => (s.maxConcurrent = 500), 'spec.maxConcurrent'],
    ['order Listed without names', (s: any) => (s.order = 'Listed'), 'spec.order'],
    ['an unknown order', (s: any) => (s.order = 'Random'), 'spec.order'],
    ['a rate limit of zero rows', (s: any) => (s.rateLimit = { rowsPerSecond: 0 }), 'spec.rateLimit.rowsPerSecond'],
    ['a malformed retention', (s: any) => (s.retention = '1 day'), 'spec.retention'],
    ['a negative promoted step', (s: any) => (s.promotedStep = -1), 'spec.promotedStep'],
  ])('refuses %s, naming the field', (_what, change, path) => {
    expect(errorPaths(parseWith(change))).toContain(path);
  });
});

describe('moveTarget', () => {
  it('rounds percentages up so a canary share never rounds to nobody', () => {
    expect(moveTarget('1%', 20)).toBe(1);
    expect(moveTarget('10%', 812)).toBe(82);
    expect(moveTarget('100%', 812)).toBe(812);
  });

  it('caps a count at the customers selected', () => {
    expect(moveTarget(1, 20)).toBe(1);
    expect(moveTarget(50, 20)).toBe(20);
  });
});

describe('parseDuration', () => {
  it('reads Go-style durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
  });

  it('refuses anything else', () => {
    expect(() => parseDuration('10 minutes')).toThrow(/invalid duration/);
  });
});
