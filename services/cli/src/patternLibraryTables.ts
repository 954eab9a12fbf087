import Table from 'cli-table3';
import { formatRate, RANDOM_FLOW_KINDS, type CaptureResult, type FalsePositiveReport, type OvermatchMatrix } from '@l7mesh/engine';

const STYLE = { head: [], border: [] };
/** No rule between rows: the tables grow with the library and stay readable. */
const CHARS = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** "http 2, unset 1": a capture's claimed flows by verdict, most first. */
function verdictList(verdicts: Record<string, number>): string {
  return Object.entries(verdicts)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([l7, n]) => `${l7} ${n}`)
    .join(', ');
}

/** Check 1: each capture, what its flows with payload came out as, and whether that is its folder's protocol. */
export function captureTable(results: readonly CaptureResult[]): string {
  const table = new Table({
    head: ['capture', 'expected', 'flows', 'with payload', 'classified as', 'result'],
    colAligns: ['left', 'left', 'right', 'right', 'left', 'left'],
    style: STYLE,
    chars: CHARS,
  });
  for (const r of results) {
    const result = r.status === 'not-checked' ? 'not checked (mixed)' : r.status === 'ok' ? 'ok' : 'ERROR';
    table.push([r.capture, r.expected ?? '-', r.flows, r.claimed, verdictList(r.verdicts), result]);
  }
  return table.toString();
}

/** Check 2: rows are patterns tried first, columns the protocols of the captures; blank where nothing is taken. */
export function overmatchTable(matrix: OvermatchMatrix): string {
  const table = new Table({
    head: ['tried first \\ capture', ...matrix.protocols],
    colAligns: ['left', ...matrix.protocols.map(() => 'right' as const)],
    style: STYLE,
    chars: CHARS,
  });
  for (const pattern of matrix.patterns) {
    const row = matrix.cells[pattern] ?? {};
    // Its own protocol's column is not an overlap: shown as '-'.
    table.push([pattern, ...matrix.protocols.map((p) => (p === pattern ? '-' : row[p] ? String(row[p]) : ''))]);
  }
  return table.toString();
}

/** Check 3: share of random flows each pattern claims alone, against its threshold. */
export function falsePositiveTable(report: FalsePositiveReport): string {
  const table = new Table({
    head: ['pattern', ...RANDOM_FLOW_KINDS.map((k) => `random ${k}`), 'threshold', 'result'],
    colAligns: ['left', ...RANDOM_FLOW_KINDS.map(() => 'right' as const), 'right', 'left'],
    style: STYLE,
    chars: CHARS,
  });
  const shown = (matched: number, rate: number) => `${formatRate(rate)} (${matched})`;
  for (const p of report.patterns) {
    const over = RANDOM_FLOW_KINDS.some((k) => p.kinds[k].rate > p.threshold);
    table.push([p.pattern, ...RANDOM_FLOW_KINDS.map((k) => shown(p.kinds[k].matched, p.kinds[k].rate)), formatRate(p.threshold), over ? 'ERROR' : 'ok']);
  }
  table.push(['any (whole set)', ...RANDOM_FLOW_KINDS.map((k) => shown(report.anyPattern[k].matched, report.anyPattern[k].rate)), '', '']);
  return table.toString();
}
