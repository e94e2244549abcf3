// The journal's times a Migration's status and cleanup read: the ETA's time per move, and a retention made shorter.
import { useControlPlaneDatabase } from '../../test/support/control-plane.js';
import { meanMoveMs, shortenRetention } from './migration-journal.js';

const controlPlane = useControlPlaneDatabase();

async function move(migration: string, customer: string, startedAt: string, cutOverAt: string, fencedAt = cutOverAt): Promise<void> {
  await controlPlane().query(
    `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, started_at, fenced_at, cut_over_at) VALUES ($1, $2, 'a', 'b', 'Done', $3, $4, $5)`,
    [migration, customer, startedAt, fencedAt, cutOverAt],
  );
}

describe('the time per move behind a Migration ETA', () => {
  it('shares a batch\'s time among the moves it cut over together, and counts a move alone whole', async () => {
    // A batch of three, 3 s from start to its one cut-over, and a move alone of 2 s: 5 s of an executor for 4 moves.
    for (const c of ['b1', 'b2', 'b3']) await move('eta', c, '2026-12-01T10:00:00Z', '2026-12-01T10:00:03Z');
    await move('eta', 'alone', '2026-12-01T10:00:03Z', '2026-12-01T10:00:05Z');
    expect(await meanMoveMs(controlPlane(), 'eta')).toBeCloseTo(1_250, 6);
  });

  it('is the mean of the moves when each moved alone, and unknown before the first cut-over', async () => {
    await move('alone', 'a1', '2026-12-01T10:00:00Z', '2026-12-01T10:00:01Z');
    await move('alone', 'a2', '2026-12-01T10:00:00.500Z', '2026-12-01T10:00:03.500Z');
    expect(await meanMoveMs(controlPlane(), 'alone')).toBeCloseTo(2_000, 6);
    expect(await meanMoveMs(controlPlane(), 'none-yet')).toBeUndefined();
  });

  it('does not take two moves alone that cut over in the same millisecond for a batch', async () => {
    await move('same-ms', 'x1', '2026-12-01T10:00:00Z', '2026-12-01T10:00:04Z', '2026-12-01T10:00:03.100Z');
    await move('same-ms', 'x2', '2026-12-01T10:00:02Z', '2026-12-01T10:00:04Z', '2026-12-01T10:00:03.900Z');
    expect(await meanMoveMs(controlPlane(), 'same-ms')).toBeCloseTo(3_000, 6);
  });
});

describe('a shorter retention for the moves waiting for their cleanup', () => {
  async function waiting(migration: string, customer: string, cutOverAt: string, cleanupAfter: string, fields: { state?: string; direction?: string } = {}) {
    await controlPlane().query(
      `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, direction, cut_over_at, cleanup_after) VALUES ($1, $2, 'a', 'b', $3, $4, $5, $6)`,
      [migration, customer, fields.state ?? 'Cleanup', fields.direction ?? 'Forward', cutOverAt, cleanupAfter],
    );
  }
  const cleanupOf = async (migration: string, customer: string) =>
    (await controlPlane().query<{ at: Date | null }>('SELECT cleanup_after AS at FROM migration_journal WHERE migration = $1 AND customer_id = $2', [migration, customer])).rows[0]?.at?.toISOString();

  it('brings forward the cleanup of forward moves in Cleanup to their cut-over plus the new retention, and nothing later or else', async () => {
    await waiting('shorter', 'w1', '2026-12-01T10:00:00Z', '2026-12-02T10:00:00Z'); // 24h
    await waiting('shorter', 'w2', '2026-12-01T11:00:00Z', '2026-12-01T11:30:00Z'); // already shorter than 1h
    await waiting('shorter', 'back', '2026-12-01T10:00:00Z', '2026-12-02T10:00:00Z', { direction: 'Reverse' });
    await waiting('shorter', 'done', '2026-12-01T10:00:00Z', '2026-12-02T10:00:00Z', { state: 'Done' });
    await waiting('other', 'o1', '2026-12-01T10:00:00Z', '2026-12-02T10:00:00Z');
    expect(await shortenRetention(controlPlane(), 'shorter', 3_600_000)).toEqual(['w1']);
    expect(await cleanupOf('shorter', 'w1')).toBe('2026-12-01T11:00:00.000Z');
    expect(await cleanupOf('shorter', 'w2')).toBe('2026-12-01T11:30:00.000Z');
    expect(await cleanupOf('shorter', 'back')).toBe('2026-12-02T10:00:00.000Z');
    expect(await cleanupOf('shorter', 'done')).toBe('2026-12-02T10:00:00.000Z');
    expect(await cleanupOf('other', 'o1')).toBe('2026-12-02T10:00:00.000Z');
    // A longer retention changes nothing already fixed.
    expect(await shortenRetention(controlPlane(), 'shorter', 48 * 3_600_000)).toEqual([]);
    expect(await cleanupOf('shorter', 'w1')).toBe('2026-12-01T11:00:00.000Z');
  });
});
