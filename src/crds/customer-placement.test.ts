import { parseCustomerPlacementSpec } from './customer-placement.js';
import { isValidCellName, isValidCustomerId } from './names.js';
import { errorPaths, loadYaml } from '../../test/support/repo-files.js';

describe('parseCustomerPlacementSpec', () => {
  it('accepts the sample CustomerPlacement', () => {
    const [sample] = loadYaml('config/samples/cells.platform.io_v1alpha1_customerplacement.yaml');
    expect(parseCustomerPlacementSpec(sample?.spec)).toEqual({
      ok: true,
      value: { region: 'eu-west-1', cell: 'eu-west-1a', expectedDevices: 1200 },
    });
  });

  it('treats an omitted or empty spec as "place anywhere, no devices expected"', () => {
    expect(parseCustomerPlacementSpec(undefined)).toEqual({ ok: true, value: { expectedDevices: 0 } });
    expect(parseCustomerPlacementSpec({})).toEqual({ ok: true, value: { expectedDevices: 0 } });
  });

  it.each([
    ['negative expected devices', { expectedDevices: -5 }, 'spec.expectedDevices'],
    ['fractional expected devices', { expectedDevices: 1.5 }, 'spec.expectedDevices'],
    ['a pin that is not a cell name', { cell: 'EU-West-1a' }, 'spec.cell'],
    ['a region that is not a DNS label', { region: 'eu west' }, 'spec.region'],
  ])('refuses %s, naming the field', (_what, spec, path) => {
    expect(errorPaths(parseCustomerPlacementSpec(spec))).toEqual([path]);
  });
});

describe('customer ids', () => {
  // The same rule as the router and the store (src/store/customer-id.ts): dots are allowed.
  it.each(['acme-corp', 'c1', '0042', 'a'.repeat(63), 'acme.corp', 'eu.acme-1'])('accepts %s', (id) => {
    expect(isValidCustomerId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['too long', 'a'.repeat(64)],
    ['with SQL metacharacters', "acme'; drop table placements; --"],
    ['upper case', 'Acme'],
    ['with an empty label', 'acme..corp'],
    ['ending in a dot', 'acme.'],
    ['reserved for the change stream', 'changes'],
    ['with a leading dash', '-acme'],
    ['non-ASCII', 'acmé'],
    ['with a slash', 'acme/../x'],
  ])('refuses an id %s', (_what, id) => {
    expect(isValidCustomerId(id)).toBe(false);
  });
});

describe('cell names', () => {
  it('must start with a letter and fit in 40 characters', () => {
    expect(isValidCellName('eu-west-1a')).toBe(true);
    expect(isValidCellName('1a')).toBe(false);
    expect(isValidCellName(`c${'a'.repeat(40)}`)).toBe(false);
  });
});
