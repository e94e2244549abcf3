// Two projects: `unit` (pure functions and plain objects, next to the code, plus test/integration/:
// real PostgreSQL servers, no cluster) and `e2e` (a real API server and real PostgreSQL; see
// test/e2e/README.md).
const tsJest = ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  // Only the sources: .local/ holds the local cluster's etcd data, whose *.snap files jest would
  // otherwise report as obsolete snapshots (and fail the run).
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/scripts', '<rootDir>/bench'],
  modulePathIgnorePatterns: ['<rootDir>/.local/', '<rootDir>/dist/'],
};

export default {
  // jest reads testTimeout only at the top level: real servers need more than the 5 s default.
  testTimeout: 120000,
  // A global option: puts test/e2e/rbac-audit.test.ts after every other e2e file.
  testSequencer: '<rootDir>/test/e2e/sequencer.js',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/integration/**/*.test.ts', '<rootDir>/scripts/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/e2e/global-setup.ts',
      globalTeardown: '<rootDir>/test/e2e/global-teardown.ts',
    },
  ],
};
