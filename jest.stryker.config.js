// The jest configuration StrykerJS runs for each mutant (see stryker.config.mjs): the unit
// project's settings, with the tests of the move engine only (STRYKER_TESTS narrows them).
import config from './jest.config.js';

const unit = config.projects.find((p) => p.displayName === 'unit');
const tests = process.env.STRYKER_TESTS?.split(',').map((s) => `<rootDir>/${s.trim()}`);

export default {
  ...unit,
  displayName: undefined,
  testTimeout: config.testTimeout,
  testMatch: tests ?? ['<rootDir>/src/data/**/*.test.ts', '<rootDir>/test/integration/data/**/*.test.ts'],
};
