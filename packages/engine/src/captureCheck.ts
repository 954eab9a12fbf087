import { classifyClaimedFlows, type ClassifierLimits, type PreparedCapture } from './claimedFlows.js';
import type { FlowRecord } from './flowRecord.js';
import type { LibraryProblem } from './libraryProblems.js';
import type { PatternSet } from './patternSet.js';

/** `not-checked`: a `mixed` capture, which has no single protocol to check against. */
export type CaptureStatus = 'ok' | 'error' | 'not-checked';

export interface CaptureResult {
  /** `<folder>/<file>`. */
  capture: string;
  /** The protocol its folder names; undefined for `mixed`. */
  expected: string | undefined;
  implementation: string;
  flows: number;
  /** Flows carrying payload: those that must be `expected`. */
  claimed: number;
  /** How the claimed flows were classified: verdict -> flows. */
  verdicts: Record<string, number>;
  status: CaptureStatus;
}

/** Flows named in a misclassification message at most; the count says the rest. */
const FLOWS_NAMED = 3;

function describeFlow(r: FlowRecord): string {
  const why = !r.why
    ? 'ended before the limits'
    : r.why.by.endsWith('-limit')
      ? `${r.why.by} at packet ${r.why.packet}`
      : r.why.by === 'inherited'
        ? `inherited from ${r.why.parent ?? 'its parent'}`
        : `${r.why.by} matched at packet ${r.why.packet}`;
  return `${r.proto} ${r.src}:${r.sport} -> ${r.dst}:${r.dport} is ${r.l7} (${why})`;
}

/**
 * Check 1: every capture of protocol P, classified with the whole set in its
 * default order (as an operator would run it), must come out P on every
 * flow it claims. FTP data connections count through inheritance.
 */
export async function checkCaptures(
  prepared: readonly PreparedCapture[],
  set: PatternSet,
  limits: ClassifierLimits = {},
): Promise<{ results: CaptureResult[]; problems: LibraryProblem[] }> {
  const known = new Set(set.patterns.map((p) => p.name));
  const results: CaptureResult[] = [];
  const problems: LibraryProblem[] = [];
  for (const p of prepared) {
    const { capture } = p;
    const { records, claimed } = await classifyClaimedFlows(p, set, limits);
    const verdicts: Record<string, number> = {};
    for (const r of claimed) verdicts[r.l7] = (verdicts[r.l7] ?? 0) + 1;
    const found: LibraryProblem[] = [];
    const problem = (code: LibraryProblem['code'], message: string) => found.push({ code, subject: capture.name, message: `${capture.name}: ${message}` });
    if (p.readError) problem('CAPTURE_UNREADABLE', p.readError);
    if (capture.protocol !== undefined) {
      const wrong = claimed.filter((r) => r.l7 !== capture.protocol);
      if (claimed.length === 0) {
        problem('CAPTURE_NO_PAYLOAD', `no flow carries payload, so the capture proves nothing about ${capture.protocol}`);
      } else if (!known.has(capture.protocol)) {
        problem('CAPTURE_UNKNOWN_PROTOCOL', `the folder names "${capture.protocol}", which no loaded pattern defines`);
      } else if (wrong.length > 0) {
        const named = wrong.slice(0, FLOWS_NAMED).map(describeFlow).join('; ');
        const more = wrong.length > FLOWS_NAMED ? `; and ${wrong.length - FLOWS_NAMED} more` : '';
        problem('CAPTURE_MISCLASSIFIED', `${wrong.length} of ${claimed.length} flows with payload are not ${capture.protocol}: ${named}${more}`);
      }
    }
    problems.push(...found);
    results.push({
      capture: capture.name,
      expected: capture.protocol,
      implementation: capture.implementation,
      flows: records.length,
      claimed: claimed.length,
      verdicts,
      status: capture.protocol === undefined ? 'not-checked' : found.length > 0 ? 'error' : 'ok',
    });
  }
  return { results, problems };
}
