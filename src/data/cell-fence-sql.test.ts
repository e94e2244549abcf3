import { classifyDatabaseError } from '../store/database-errors.js';
import { fenceRefusal, refusalMessage } from './cell-fence-sql.js';

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
