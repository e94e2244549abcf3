import { FIELD_MANAGER } from './version.js';

describe('version', () => {
  it('applies with the cell-operator field manager', () => {
    expect(FIELD_MANAGER).toBe('cell-operator');
  });
});
