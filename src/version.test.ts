import { readFileSync } from 'node:fs';
import { FIELD_MANAGER, PACKAGE_VERSION } from './version.js';

describe('version', () => {
  it('applies with the cell-operator field manager', () => {
    expect(FIELD_MANAGER).toBe('cell-operator');
  });

  it('reports the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });
});
