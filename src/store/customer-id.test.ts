import { customerIdProblem, isValidCustomerId, parseCustomerIdSegment } from './customer-id.js';
import { validatePlacementRequest } from './placement-request.js';

describe('customer id grammar', () => {
  it.each(['a', 'acme', 'acme-corp', 'acme.eu', '0', 'c-000123', 'a'.repeat(63), 'x1.y2.z3'])('accepts %s', (id) => {
    expect(customerIdProblem(id)).toBeUndefined();
  });

  it.each([
    ['', 'must not be empty'],
    ['a'.repeat(64), 'must be at most 63 characters (got 64)'],
    ['Acme', 'DNS subdomain'],
    ["acme'; DROP TABLE placements; --", 'DNS subdomain'],
    ['acme"', 'DNS subdomain'],
    ['acme\\', 'DNS subdomain'],
    ['acme corp', 'DNS subdomain'],
    ['-acme', 'DNS subdomain'],
    ['acme-', 'DNS subdomain'],
    ['acme..eu', 'DNS subdomain'],
    ['acme/eu', 'DNS subdomain'],
    ['acmé', 'DNS subdomain'],
    ['acme\u0000', 'DNS subdomain'],
    ['changes', 'reserved'],
  ])('refuses %j', (id, why) => {
    expect(customerIdProblem(id)).toContain(why);
  });

  it('refuses what is not a string', () => {
    expect(isValidCustomerId(42)).toBe(false);
    expect(isValidCustomerId(null)).toBe(false);
  });

  it('decodes URL path segments and refuses malformed escapes and bytes that are not UTF-8', () => {
    expect(parseCustomerIdSegment('acme%2dcorp')).toEqual({ ok: true, id: 'acme-corp' });
    expect(parseCustomerIdSegment('acme%ff')).toEqual({ ok: false, problem: 'is not valid percent-encoded UTF-8' });
    expect(parseCustomerIdSegment('acme%c3')).toEqual({ ok: false, problem: 'is not valid percent-encoded UTF-8' });
    expect(parseCustomerIdSegment('acme%zz')).toEqual({ ok: false, problem: 'is not valid percent-encoded UTF-8' });
    expect(parseCustomerIdSegment('acme%27%3b')).toMatchObject({ ok: false });
  });
});

describe('placement request validation', () => {
  it('names every bad field of a request', () => {
    const v = validatePlacementRequest({ customer: 'ACME', region: 'EU West', expectedDevices: -1, labels: { tier: 'gold plated' }, colour: 'red' });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.problems).toEqual([
      'colour: unknown field',
      expect.stringContaining('customer: '),
      expect.stringContaining('region: '),
      expect.stringContaining('expectedDevices: '),
      'labels.tier: "gold plated" is not a valid label value',
    ]);
  });

  it('accepts a full request with Kubernetes-style labels', () => {
    const v = validatePlacementRequest({ customer: 'acme', region: 'eu-west-1', cell: 'eu-west-1a', expectedDevices: 1200, labels: { tier: 'enterprise', 'platform.io/team': 'a_b.c' } });
    expect(v).toEqual({
      ok: true,
      request: { customerId: 'acme', region: 'eu-west-1', cell: 'eu-west-1a', expectedDevices: 1200, labels: { tier: 'enterprise', 'platform.io/team': 'a_b.c' } },
    });
  });
});
