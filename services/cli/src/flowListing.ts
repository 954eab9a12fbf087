import type { FlowRecord } from '@l7mesh/engine';

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function reason(r: FlowRecord): string {
  if (!r.why) return r.l7 === 'unset' ? 'ended before the limits' : '';
  if (r.why.by === 'inherited') return `inherited from ${r.why.parent ?? 'parent'} at packet ${r.why.packet}`;
  if (r.why.by.endsWith('-limit')) return `${r.why.by} passed at packet ${r.why.packet}`;
  return `${r.why.by} matched at packet ${r.why.packet}`;
}

/** One readable line per flow, like `conntrack -L` with an l7 column. */
export function formatFlowLine(r: FlowRecord): string {
  const tuple = `${endpoint(r.src, r.sport)} -> ${endpoint(r.dst, r.dport)}`;
  return `${r.proto.padEnd(4)}${tuple.padEnd(48)} ${r.l7.padEnd(14)} ${String(r.packets).padStart(6)} pkts ${String(r.bytes).padStart(10)} B  ${reason(r)}`;
}
