// StrykerJS mutation testing of the move engine (src/data/), run by hand (`npm run mutation`), not
// in CI: every mutant runs the tests below, with real PostgreSQL servers for the integration ones.
// Narrow it with STRYKER_MUTATE (files to mutate) and STRYKER_TESTS (test files), comma-separated;
// the report goes to reports/mutation/. Jest runs as the project runs it: ESM through ts-jest,
// with --experimental-vm-modules, and without per-test coverage (not available for ESM).
const list = (value, fallback) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : fallback);

export default {
  testRunner: 'jest',
  plugins: ['@stryker-mutator/jest-runner'],
  jest: { projectType: 'custom', configFile: 'jest.stryker.config.js', enableFindRelatedTests: false },
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  coverageAnalysis: 'off',
  mutate: list(process.env.STRYKER_MUTATE, [
    'src/data/move-decision.ts',
    'src/data/move-executor.ts',
    'src/data/range-copy.ts',
    'src/data/table-sql.ts',
    'src/data/tenant-tables.ts',
  ]),
  // The sandbox gets the sources only: not the local cluster's state, builds or reports.
  ignorePatterns: ['.local', 'dist', 'reports', '.stryker-tmp', 'charts', 'docs', 'tools'],
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 1),
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
