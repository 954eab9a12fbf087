import type { FlowRecord } from '@l7mesh/engine';

interface ProtocolTotals {
  flows: number;
  packets: number;
  bytes: number;
}

/** Per-protocol totals of classified flows: what an operator reads first. */
export class ProtocolSummary {
  private readonly totals = new Map<string, ProtocolTotals>();
  private all: ProtocolTotals = { flows: 0, packets: 0, bytes: 0 };

  add(r: FlowRecord): void {
    let t = this.totals.get(r.l7);
    if (!t) this.totals.set(r.l7, (t = { flows: 0, packets: 0, bytes: 0 }));
    t.flows++;
    t.packets += r.packets;
    t.bytes += r.bytes;
    this.all.flows++;
    this.all.packets += r.packets;
    this.all.bytes += r.bytes;
  }

  /**
   * Rows by bytes, largest first; share is of bytes. Drawn here, in the
   * box lines cli-table3 draws for the other commands' tables: loading
   * cli-table3 (and its modules) took 1% of a real-shaped capture's classify.
   */
  render(): string {
    const share = (bytes: number) => (this.all.bytes === 0 ? '-' : `${((100 * bytes) / this.all.bytes).toFixed(1)}%`);
    const sorted = [...this.totals.entries()].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1));
    const rows = [['l7', 'flows', 'packets', 'bytes', 'share']];
    for (const [name, t] of sorted) rows.push([name, String(t.flows), String(t.packets), String(t.bytes), share(t.bytes)]);
    rows.push(['total', String(this.all.flows), String(this.all.packets), String(this.all.bytes), share(this.all.bytes)]);
    return boxTable(rows);
  }
}

/** A table in box lines, one space either side of each cell: the first column left-aligned, the others right-aligned. */
function boxTable(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const rule = (left: string, mid: string, right: string) => `${left}${widths.map((w) => '\u2500'.repeat(w + 2)).join(mid)}${right}`;
  const line = (r: readonly string[]) => `\u2502${r.map((cell, c) => ` ${c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)} `).join('\u2502')}\u2502`;
  return [rule('\u250c', '\u252c', '\u2510'), ...rows.map(line), rule('\u2514', '\u2534', '\u2518')].join('\n');
}
