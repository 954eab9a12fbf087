import Table from 'cli-table3';
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

  /** Rows by bytes, largest first; share is of bytes. */
  render(): string {
    const table = new Table({ head: ['l7', 'flows', 'packets', 'bytes', 'share'], colAligns: ['left', 'right', 'right', 'right', 'right'], style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
    const share = (bytes: number) => (this.all.bytes === 0 ? '-' : `${((100 * bytes) / this.all.bytes).toFixed(1)}%`);
    const rows = [...this.totals.entries()].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1));
    for (const [name, t] of rows) table.push([name, t.flows, t.packets, t.bytes, share(t.bytes)]);
    table.push(['total', this.all.flows, this.all.packets, this.all.bytes, share(this.all.bytes)]);
    return table.toString();
  }
}
