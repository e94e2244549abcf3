// Writes readings to the cell database idempotently: the row key (customer_id, id) comes from the
// message, and ON CONFLICT DO NOTHING makes a redelivered message a no-op. One statement per
// batch (unnest of arrays), one transaction, committed before the worker commits its offsets.
import pg from 'pg';
import type { TelemetryMessage } from '../kafka/telemetry-message.js';

/** `schema.table` or `table`, each part quoted. */
export function quotedTable(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(p))) {
    throw new Error(`INGEST_TABLE must be [schema.]table of plain identifiers, got "${name}"`);
  }
  return parts.map((p) => pg.escapeIdentifier(p)).join('.');
}

export class RowWriter {
  private readonly sql: string;

  constructor(
    private readonly pool: pg.Pool,
    table: string,
  ) {
    this.sql = `INSERT INTO ${quotedTable(table)} (customer_id, id, device, value)
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[])
      ON CONFLICT (customer_id, id) DO NOTHING`;
  }

  /** Inserts the messages; returns how many rows were new (the rest were redeliveries). */
  async write(messages: readonly TelemetryMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    const result = await this.pool.query(this.sql, [messages.map((m) => m.customer), messages.map((m) => m.id), messages.map((m) => m.device), messages.map((m) => m.value)]);
    return result.rowCount ?? 0;
  }
}
