import { capacityColumn, cellReadiness, renderCellsTable, renderMigrationsTable, renderStatus } from './cells-status.js';
import type { ObservedCell, ObservedMigration } from './observed.js';

const T = '2025-01-01T00:00:00Z';
const ready = (status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({ type: 'Ready', status, reason, message, lastTransitionTime: T });

const cell = (name: string, region: string, customers: number | undefined, max: number, conditions = [ready('True', 'Ready')]): ObservedCell => ({
  metadata: { name },
  spec: { region, state: 'Active', capacity: { maxCustomers: max } },
  status: { phase: conditions[0]?.status === 'True' ? 'Ready' : 'Provisioning', customers, conditions },
});

describe('cellReadiness', () => {
  it('is Ready when the Ready condition is True', () => {
    expect(cellReadiness(cell('a', 'eu', 1, 10))).toEqual({ ready: true, text: 'Ready' });
  });

  it('names the reason and keeps the message when the cell is not Ready', () => {
    const c = cell('a', 'eu', 1, 10, [ready('False', 'KafkaNotReady', 'Kafka cell-a/a is not ready: 1 of 3 brokers.')]);
    expect(cellReadiness(c)).toEqual({ ready: false, text: 'NotReady (KafkaNotReady)', message: 'Kafka cell-a/a is not ready: 1 of 3 brokers.' });
  });

  it('says Unknown when the condition is Unknown or the operator never wrote a status', () => {
    expect(cellReadiness(cell('a', 'eu', 1, 10, [ready('Unknown', 'Reconciling')])).text).toBe('Unknown (Reconciling)');
    expect(cellReadiness({ metadata: { name: 'a' }, spec: { region: 'eu' } })).toMatchObject({ ready: false, text: 'Unknown (no status yet)' });
  });
});

describe('renderCellsTable and a drain', () => {
  it('names the cells a drain has cordoned and the Migration that holds them', () => {
    const cordoned = {
      type: 'Cordoned',
      status: 'True' as const,
      reason: 'DrainingByMigration',
      message: 'The cell is cordoned by Migration empty-1a (drain): placement sends new customers elsewhere.',
      lastTransitionTime: T,
    };
    const drained = cell('eu-1a', 'eu', 5, 10, [ready('True', 'Ready'), cordoned]);
    const bySpec = cell('eu-1b', 'eu', 5, 10, [ready('True', 'Ready'), { ...cordoned, reason: 'Cordoned', message: 'spec.state is Cordoned.' }]);
    const lines = renderCellsTable([drained, bySpec, cell('eu-1c', 'eu', 1, 10)]);
    const at = lines.indexOf('Cordoned by a drain (no new customers):');
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1)).toEqual(['  eu-1a: The cell is cordoned by Migration empty-1a (drain): placement sends new customers elsewhere.']);
  });

  it('says nothing of cordons when no drain holds one', () => {
    expect(renderCellsTable([cell('eu-1a', 'eu', 5, 10)]).join('\n')).not.toContain('Cordoned by a drain');
  });
});

describe('capacityColumn', () => {
  it('shows a bar, the percentage and the counts of placed against maxCustomers', () => {
    expect(capacityColumn(cell('a', 'eu', 48000, 100000))).toBe('[#####.....]  48%  48,000/100,000');
  });

  it('counts a cell with no status as empty', () => {
    expect(capacityColumn({ metadata: { name: 'a' }, spec: { capacity: { maxCustomers: 10 } } })).toBe('[..........]   0%  0/10');
  });
});

describe('renderCellsTable', () => {
  it('lists the cells by region then name with bars, a summary, and why the others are not Ready', () => {
    const lines = renderCellsTable([
      cell('us-east-1a', 'us-east-1', 10, 100),
      cell('eu-west-1b', 'eu-west-1', 0, 100000, [ready('False', 'DatabaseUnreachable', 'Cannot connect to the database.')]),
      cell('eu-west-1a', 'eu-west-1', 48000, 100000),
    ]);
    expect(lines).toEqual([
      'CELL        REGION     STATE   PHASE         READY                           CUSTOMERS',
      'eu-west-1a  eu-west-1  Active  Ready         Ready                           [#####.....]  48%  48,000/100,000',
      'eu-west-1b  eu-west-1  Active  Provisioning  NotReady (DatabaseUnreachable)  [..........]   0%  0/100,000',
      'us-east-1a  us-east-1  Active  Ready         Ready                           [#.........]  10%  10/100',
      '',
      '3 cell(s) in 2 region(s), 2 Ready; 48,010 of 200,100 customers placed (23%).',
      '',
      'Not Ready:',
      '  eu-west-1b: Cannot connect to the database.',
    ]);
  });

  it('says so when there is no cell', () => {
    expect(renderCellsTable([])[0]).toMatch(/^No Cells in this cluster/);
  });
});

describe('renderMigrationsTable', () => {
  const migration = (name: string, phase: 'Progressing' | 'Succeeded' | 'Paused', moved: number): ObservedMigration => ({
    metadata: { name },
    spec: { from: 'eu-west-1a', to: 'eu-west-1b', steps: [{ move: 1 }, { pause: {} }, { move: '100%' }] },
    status: { phase, currentStep: phase === 'Paused' ? 1 : 2, customers: { total: 10, moved } },
  });

  it('lists the migrations not over, with their step and a bar, and leaves out the finished ones', () => {
    const lines = renderMigrationsTable([migration('b', 'Progressing', 5), migration('a', 'Paused', 1), migration('old', 'Succeeded', 10)]);
    expect(lines).toEqual([
      'MIGRATION  FROM        TO          PHASE        STEP                       MOVED',
      'a          eu-west-1a  eu-west-1b  Paused       1: pause (until promoted)  [#.........] 1/10',
      'b          eu-west-1a  eu-west-1b  Progressing  2: move 100%               [#####.....] 5/10',
      '',
      'Follow one with: kubectl cells migration watch <name>',
    ]);
  });

  it('prints nothing when every migration is over', () => {
    expect(renderMigrationsTable([migration('old', 'Succeeded', 10)])).toEqual([]);
  });
});

describe('renderStatus', () => {
  it('puts the migrations under the cells', () => {
    const text = renderStatus([cell('eu-west-1a', 'eu-west-1', 1, 10)], [
      { metadata: { name: 'm' }, spec: { from: 'eu-west-1a', to: 'eu-west-1b', steps: [{ move: 1 }] }, status: { phase: 'Progressing', currentStep: 0, customers: { total: 2, moved: 0 } } },
    ]);
    expect(text).toMatch(/^CELL .*\n[\s\S]*\nMIGRATION .*\nm .*Progressing .*0: move 1/m);
    expect(text.endsWith('\n')).toBe(true);
  });
});
