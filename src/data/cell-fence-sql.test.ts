import { classifyDatabaseError } from '../store/database-errors.js';
import { drainSettingsSql, fenceChangeSql, fenceRefusal, lockTimeoutSql, ownMoveSql, refusalMessage } from './cell-fence-sql.js';

const refusal = (code: string, message: string, detail: string): Error & { code: string; detail: string } => Object.assign(new Error(message), { code, detail });

describe('fenceRefusal', () => {
  const ours = refusalMessage('acme', 'm-1', 'MovingIn');
  const detail = 'customer=acme migration=m-1 fence=MovingIn';

  it("reads the customer, the migration and the role from the fence's own error", () => {
    expect(fenceRefusal(refusal('ZF001', ours, detail))).toEqual({ customer: 'acme', migration: 'm-1', role: 'MovingIn' });
    expect(classifyDatabaseError(refusal('ZF001', ours, detail))).toMatchObject({ reason: 'CustomerFenced', transient: false });
  });

  it("recognises the refusal Citus relays as XX000 (INSERT … SELECT, COPY) by its DETAIL and the trigger's message", () => {
    const relayed = refusal('XX000', ours, detail);
    expect(fenceRefusal(relayed)).toEqual({ customer: 'acme', migration: 'm-1', role: 'MovingIn' });
    expect(classifyDatabaseError(relayed)).toMatchObject({ reason: 'CustomerFenced', transient: false, code: 'XX000' });
  });

  it('is not fooled by an internal error that merely carries a DETAIL of that shape, nor by another SQLSTATE', () => {
    expect(fenceRefusal(refusal('XX000', 'could not open relation', detail))).toBeUndefined();
    expect(fenceRefusal(refusal('XX000', refusalMessage('other', 'm-1', 'MovingIn'), detail))).toBeUndefined(); // the message names another customer
    expect(fenceRefusal(refusal('23505', ours, detail))).toBeUndefined();
    expect(fenceRefusal(refusal('ZF001', ours, 'no detail'))).toBeUndefined();
    expect(classifyDatabaseError(refusal('XX000', 'could not open relation', detail)).reason).toBe('UnexpectedError');
    expect(fenceRefusal(undefined)).toBeUndefined();
  });
});

describe('fenceChangeSql', () => {
  const owner = { migration: 'm-1', customer: "o'brien", epoch: '7' };
  const set = { customers: ["o'brien"], migration: 'm-1', role: 'Fenced' as const };

  it('sends a change as one message without Citus: the owner check first, then the drain, the fence row, and the number', () => {
    const [message, ...more] = fenceChangeSql({ owners: [owner], drainMs: 500, set });
    expect(more).toEqual([]);
    const at = (part: string) => message!.indexOf(part);
    expect(at('BEGIN')).toBe(0);
    expect(at(ownMoveSql(owner))).toBeLessThan(at(drainSettingsSql(500)));
    expect(at(drainSettingsSql(500))).toBeLessThan(at("('o''brien', 'm-1', 'Fenced', now())"));
    expect(at("('o''brien', 'm-1', 'Fenced', now())")).toBeLessThan(at('UPDATE "cell_operator".fence_state'));
    expect(message!.endsWith('COMMIT')).toBe(true);
  });

  it('carries the drain bound the rows of one statement share, whole milliseconds, at least 1', () => {
    expect(drainSettingsSql(500)).toBe(
      `SET LOCAL citus.propagate_set_commands = 'local'; ${lockTimeoutSql(500)}; SET LOCAL cell_operator.drain = 'on'; SET LOCAL cell_operator.drain_ms = '500'`,
    );
    expect(drainSettingsSql(0.4)).toContain("cell_operator.drain_ms = '1'");
    expect(() => drainSettingsSql(-1)).toThrow('non-negative');
  });

  it("on Citus sends a draining change's settings alone, between the BEGIN with the owner check and the rest: Citus replays a propagated SET's whole message on the workers", () => {
    expect(fenceChangeSql({ owners: [owner], drainMs: 500, set }, { citus: true })).toEqual([
      `BEGIN;\n${ownMoveSql(owner)}`,
      drainSettingsSql(500),
      expect.stringMatching(/^INSERT INTO "cell_operator"\.fenced_customers [^]*;\nSELECT "cell_operator"\.number_fence_change\(\);\nCOMMIT$/),
    ]);
  });

  it('on Citus sends a lift as one message: lift_fences reads, deletes and numbers in the cell', () => {
    expect(fenceChangeSql({ owners: [owner], lift: { customers: ["o'brien"], migration: 'm-1' } }, { citus: true })).toEqual([
      `BEGIN;\n${ownMoveSql(owner)};\nSELECT "cell_operator".lift_fences(ARRAY['o''brien']::text[], 'm-1');\nCOMMIT`,
    ]);
  });

  it('without a fence to set or lift only numbers the change (the catch-up after a failed one)', () => {
    expect(fenceChangeSql({}, { citus: true })).toEqual(['BEGIN;\nSELECT "cell_operator".number_fence_change();\nCOMMIT']);
    const [plain] = fenceChangeSql({});
    expect(plain).not.toContain('fenced_customers');
    expect(plain).toContain('SELECT setval');
  });
});

describe('fenceChangeSql for a batch of moves', () => {
  const owners = [
    { migration: 'm-1', customer: "o'brien", epoch: '7' },
    { migration: 'm-1', customer: 'acme', epoch: '7' },
  ];

  it('checks every owner first, then the drain, every fence row in one statement (each customer once), and numbers the change once', () => {
    for (const citus of [false, true]) {
      const message = fenceChangeSql({ owners, drainMs: 500, set: { customers: ["o'brien", 'acme', 'acme'], migration: 'm-1', role: 'Fenced' } }, { citus }).join('\n');
      const at = (part: string) => message.indexOf(part);
      expect(at('BEGIN')).toBe(0);
      expect(at(ownMoveSql(owners[1]!))).toBeLessThan(at(drainSettingsSql(500)));
      expect(at(drainSettingsSql(500))).toBeLessThan(at('INSERT INTO "cell_operator".fenced_customers'));
      expect(message).toContain(`VALUES ('o''brien', 'm-1', 'Fenced', now()), ('acme', 'm-1', 'Fenced', now())\nON CONFLICT`);
      expect(message.match(/INSERT INTO/g)).toHaveLength(1);
      expect(message.match(citus ? /number_fence_change/g : /SELECT setval/g)).toHaveLength(1);
      expect(message.endsWith('COMMIT')).toBe(true);
    }
  });

  it("lifts the migration's fences of every customer in one delete, numbered only when it deleted one", () => {
    const [message] = fenceChangeSql({ owners, lift: { customers: ["o'brien", 'acme'], migration: 'm-1' } });
    expect(message).toContain(`WHERE customer_id IN ('o''brien', 'acme') AND migration = 'm-1'`);
    expect(message).toContain(`WHERE current_setting('cell_operator.lifted') = 'true'`);
  });

  it('refuses a role it does not know', () => {
    expect(() => fenceChangeSql({ owners, set: { customers: ['acme'], migration: 'm-1', role: 'Gone' as 'Fenced' } })).toThrow('unknown fence role');
  });
});
