import { classifyDatabaseError } from '../store/database-errors.js';
import { drainDeadlineSql, drainSettingsSql, fenceChangeSql, fenceChangesSql, fenceRefusal, lockTimeoutSql, ownMoveSql, refusalMessage } from './cell-fence-sql.js';

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
  const set = { customer: "o'brien", migration: 'm-1', role: 'Fenced' as const };

  it('sends a change as one message without Citus: the owner check first, then the drain, the fence row, and the number', () => {
    const [message, ...more] = fenceChangeSql({ owner, drainMs: 500, set });
    expect(more).toEqual([]);
    const at = (part: string) => message!.indexOf(part);
    expect(at('BEGIN')).toBe(0);
    expect(at(ownMoveSql(owner))).toBeLessThan(at(drainSettingsSql(500)));
    expect(at(drainSettingsSql(500))).toBeLessThan(at("VALUES ('o''brien'"));
    expect(at("VALUES ('o''brien'")).toBeLessThan(at('UPDATE "cell_operator".fence_state'));
    expect(message!.endsWith('COMMIT')).toBe(true);
  });

  it("on Citus sends a draining change's settings alone, between the BEGIN with the owner check and the rest: Citus replays a propagated SET's whole message on the workers", () => {
    expect(fenceChangeSql({ owner, drainMs: 500, set }, { citus: true })).toEqual([
      `BEGIN;\n${ownMoveSql(owner)}`,
      drainSettingsSql(500),
      expect.stringMatching(/^INSERT INTO "cell_operator"\.fenced_customers [^]*;\nSELECT "cell_operator"\.number_fence_change\(\);\nCOMMIT$/),
    ]);
  });

  it('on Citus sends a lift as one message: lift_fence reads, deletes and numbers in the cell', () => {
    expect(fenceChangeSql({ owner, lift: { customer: "o'brien", migration: 'm-1' } }, { citus: true })).toEqual([
      `BEGIN;\n${ownMoveSql(owner)};\nSELECT "cell_operator".lift_fence('o''brien', 'm-1');\nCOMMIT`,
    ]);
  });
});

describe('fenceChangesSql (a batch of moves)', () => {
  const owners = [
    { migration: 'm-1', customer: "o'brien", epoch: '7' },
    { migration: 'm-1', customer: 'acme', epoch: '7' },
  ];

  it("checks every owner first, then the drain, one fence row per customer, and numbers the change once", () => {
    const message = fenceChangesSql({ owners, drainMs: 500, set: { customers: ["o'brien", 'acme'], migration: 'm-1', role: 'Fenced' } });
    const at = (part: string) => message.indexOf(part);
    expect(at('BEGIN')).toBe(0);
    expect(at(ownMoveSql(owners[1]!))).toBeLessThan(at(drainSettingsSql(500)));
    expect(at(drainSettingsSql(500))).toBeLessThan(at("VALUES ('o''brien', 'm-1', 'Fenced'"));
    expect(at("VALUES ('o''brien', 'm-1', 'Fenced'")).toBeLessThan(at("VALUES ('acme', 'm-1', 'Fenced'"));
    // Each customer's drain waits only for what is left of the change's 500 ms (at least 1 ms, at
    // most 500, for the rest of the transaction only), and the numbering under 500 ms again.
    expect(message.split(drainDeadlineSql(500))).toHaveLength(3);
    expect(at(drainDeadlineSql(500))).toBeLessThan(at("VALUES ('o''brien', 'm-1', 'Fenced'"));
    expect(message.lastIndexOf(drainDeadlineSql(500))).toBeGreaterThan(at("VALUES ('o''brien', 'm-1', 'Fenced'"));
    expect(message.lastIndexOf(drainDeadlineSql(500))).toBeLessThan(at("VALUES ('acme', 'm-1', 'Fenced'"));
    expect(message.lastIndexOf(lockTimeoutSql(500))).toBeGreaterThan(at("VALUES ('acme', 'm-1', 'Fenced'"));
    expect(message.lastIndexOf(lockTimeoutSql(500))).toBeLessThan(at('SELECT setval'));
    expect(drainDeadlineSql(500)).toBe(
      "SELECT set_config('lock_timeout', greatest(1, least(500, ceil(extract(epoch FROM statement_timestamp() - clock_timestamp()) * 1000 + 500)))::bigint || 'ms', true)",
    );
    expect(drainDeadlineSql(0.4)).toContain('least(1, ');
    expect(message.match(/SELECT setval/g)).toHaveLength(1);
    expect(message.endsWith('COMMIT')).toBe(true);
  });

  it("lifts the migration's fences of every customer in one delete, numbered only when it deleted one", () => {
    const message = fenceChangesSql({ owners, lift: { customers: ["o'brien", 'acme'], migration: 'm-1' } });
    expect(message).toContain(`WHERE customer_id IN ('o''brien', 'acme') AND migration = 'm-1'`);
    expect(message).toContain(`WHERE current_setting('cell_operator.lifted') = 'true'`);
  });

  it('refuses a role it does not know', () => {
    expect(() => fenceChangesSql({ owners, set: { customers: ['acme'], migration: 'm-1', role: 'Gone' as 'Fenced' } })).toThrow('unknown fence role');
  });
});

