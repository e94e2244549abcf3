import { z } from 'zod';
import { listMap, withCel } from './cel.js';
import {
  NotStructuralError,
  checkRe2,
  structuralViolations,
  toStructural,
  zodToStructural,
  type SchemaNode,
} from './to-crd.js';

const convert = (schema: z.ZodType) => zodToStructural(schema, { requireDescriptions: false });

describe('zodToStructural', () => {
  it('turns an integer-or-percentage union into x-kubernetes-int-or-string with both checks on the node', () => {
    const move = z.union([z.int().min(1), z.string().regex(/^([1-9][0-9]?|100)%$/)]).describe('move');
    expect(convert(move)).toEqual({
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      description: 'move',
      minimum: 1,
      pattern: '^([1-9][0-9]?|100)%$',
      'x-kubernetes-int-or-string': true,
    });
  });

  it('drops $schema and the JavaScript safe-integer bounds zod puts on every int', () => {
    const out = convert(z.object({ n: z.int(), m: z.int().min(0).max(10) }));
    expect(out).not.toHaveProperty('$schema');
    expect(out.properties).toEqual({
      m: { maximum: 10, minimum: 0, type: 'integer' },
      n: { type: 'integer' },
    });
  });

  it('keeps defaults, descriptions and required fields, and sorts keys for stable output', () => {
    const out = convert(
      z.object({ b: z.string().describe('b'), a: z.enum(['X', 'Y']).default('X').describe('a') }).describe('obj'),
    );
    expect(JSON.stringify(out)).toBe(
      JSON.stringify({
        description: 'obj',
        properties: {
          a: { default: 'X', description: 'a', enum: ['X', 'Y'], type: 'string' },
          b: { description: 'b', type: 'string' },
        },
        required: ['b'],
        type: 'object',
      }),
    );
  });

  it('emits records as additionalProperties without propertyNames', () => {
    const out = convert(z.record(z.string().regex(/^[a-z]+$/), z.string()));
    expect(out).toEqual({ additionalProperties: { type: 'string' }, type: 'object' });
  });

  it('drops additionalProperties: false of strict objects and marks loose objects as preserving unknown fields', () => {
    expect(convert(z.strictObject({ a: z.string() }))).not.toHaveProperty('additionalProperties');
    expect(convert(z.looseObject({ a: z.string() }))).toMatchObject({ 'x-kubernetes-preserve-unknown-fields': true });
  });

  it('marks nullable fields with nullable instead of a null type', () => {
    expect(convert(z.object({ a: z.string().nullable() })).properties).toEqual({ a: { nullable: true, type: 'string' } });
  });

  it('gives every array a list type, atomic unless set otherwise', () => {
    expect(convert(z.array(z.string()))).toMatchObject({ 'x-kubernetes-list-type': 'atomic' });
    const map = convert(listMap(z.array(z.object({ name: z.string() })), ['name']));
    expect(map).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
  });

  it('drops the pattern zod adds to date-time strings and keeps the format', () => {
    expect(convert(z.iso.datetime())).toEqual({ format: 'date-time', type: 'string' });
  });

  it('passes CEL rules through with their fieldPath and reason', () => {
    const s = withCel(z.object({ a: z.int(), b: z.int() }), [
      { rule: 'self.a < self.b', message: 'a must be below b', fieldPath: '.b', reason: 'FieldValueInvalid', check: (v) => v.a < v.b },
    ]);
    expect(convert(s)['x-kubernetes-validations']).toEqual([
      { rule: 'self.a < self.b', message: 'a must be below b', fieldPath: '.b', reason: 'FieldValueInvalid' },
    ]);
  });

  it('turns a literal into a one-value enum', () => {
    expect(convert(z.literal('x'))).toEqual({ enum: ['x'], type: 'string' });
  });

  describe('refuses what the API server would refuse, naming the field', () => {
    const refuses = (schema: z.ZodType, message: RegExp) => {
      expect(() => convert(schema)).toThrow(NotStructuralError);
      expect(() => convert(schema)).toThrow(message);
    };

    it('a union of other types than integer and string', () => {
      refuses(z.object({ spec: z.object({ x: z.union([z.string(), z.boolean()]) }) }), /^spec\.x: union of string \| boolean/);
    });

    it('a field without a type', () => {
      refuses(z.object({ any: z.unknown() }), /^any: has no type/);
    });

    it('a property without a description when descriptions are required', () => {
      expect(() => zodToStructural(z.object({ a: z.string() }))).toThrow(/^a: has no description/);
    });

    it('a pattern RE2 cannot run', () => {
      refuses(z.object({ a: z.string().regex(/^(?!x)/) }), /lookaround/);
      expect(() => checkRe2('(a)\\1')).toThrow(/backreference/);
    });

    it('a format the API server does not check', () => {
      refuses(z.cuid(), /format "cuid"/);
    });

    it('a tuple', () => {
      refuses(z.object({ t: z.tuple([z.string(), z.int()]) }), /^t: /);
    });

    it('a map-list key that is neither required nor defaulted', () => {
      refuses(listMap(z.array(z.object({ name: z.string().optional() })), ['name']), /map key "name" must be required or have a default/);
    });

    it('a CEL fieldPath that is not a field', () => {
      const s = withCel(z.object({ a: z.int() }), [{ rule: 'self.a > 0', message: 'm', fieldPath: '.nope', check: () => true }]);
      refuses(s, /fieldPath \.nope is not a field/);
    });

    it('a CEL rule naming a field that is a CEL reserved word without escaping it', () => {
      const s = withCel(z.object({ namespace: z.string().max(63).optional() }), [
        { rule: 'self.namespace == oldSelf.namespace', message: 'immutable' },
      ]);
      refuses(s, /"namespace" is a CEL reserved word; write \.__namespace__/);
    });

    it('an object default that lacks a required field', () => {
      const raw = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], default: {} } as SchemaNode;
      expect(() => zodToStructuralFromJson(raw)).toThrow(/default lacks the required field "a"/);
    });
  });
});

describe('withCel', () => {
  it('reports a failed rule at its fieldPath when parsing', () => {
    const s = withCel(z.object({ from: z.string(), to: z.string() }), [
      { rule: 'self.from != self.to', message: 'to must differ', fieldPath: '.to', check: (v) => v.from !== v.to },
    ]);
    const result = s.safeParse({ from: 'a', to: 'a' });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([expect.objectContaining({ path: ['to'], message: 'to must differ' })]);
  });

  it('reports the same path on every parse (zod must not grow a shared path array)', () => {
    const step = withCel(z.object({ a: z.int().optional() }), [{ rule: 'has(self.a)', message: 'a is required', check: (v) => v.a !== undefined }]);
    const list = z.array(step);
    list.safeParse([{}]);
    expect(list.safeParse([{ a: 1 }, {}]).error?.issues[0]?.path).toEqual([1]);
  });

  it('refuses a parse-time check on a transition rule, which needs the stored object', () => {
    expect(() => withCel(z.string(), [{ rule: 'self == oldSelf', message: 'immutable', check: () => true }])).toThrow(/transition rule/);
  });

  it('appends to the rules a schema already has', () => {
    const once = withCel(z.int(), [{ rule: 'self > 0', message: 'positive', check: (v) => v > 0 }]);
    const twice = withCel(once, [{ rule: 'self < 10', message: 'small', check: (v) => v < 10 }]);
    expect(convert(twice)['x-kubernetes-validations']).toHaveLength(2);
  });
});

describe('structuralViolations', () => {
  it('finds nodes without a type, stray anyOf and safe-integer bounds', () => {
    const bad: SchemaNode = {
      type: 'object',
      properties: {
        a: {},
        b: { anyOf: [{ type: 'string' }, { type: 'boolean' }] },
        c: { type: 'integer', maximum: Number.MAX_SAFE_INTEGER },
      },
    };
    expect(structuralViolations(bad)).toEqual([
      'a: no type',
      'b: no type',
      'b: anyOf other than the int-or-string pattern',
      'c: JS safe-integer bound',
    ]);
  });
});

// The JSON entry point, for schema shapes zod cannot produce on purpose.
function zodToStructuralFromJson(json: SchemaNode): SchemaNode {
  return toStructural(json, { requireDescriptions: false });
}
