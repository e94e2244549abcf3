// Orders the e2e test files: jest's own order (slowest first, failures of the last run first), but
// rbac-audit.test.ts last, since it checks the API requests that all the others made.
import Sequencer from '@jest/test-sequencer';

const LAST = /rbac-audit\.test\.ts$/;

export default class E2eSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((t) => !LAST.test(t.path)), ...sorted.filter((t) => LAST.test(t.path))];
  }
}
