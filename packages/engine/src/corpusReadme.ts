import { formatRate } from './falsePositives.js';
import type { CorpusScoreRecord, ScoreCounts } from './scoreCaptures.js';

/** Targets for the development corpus (issue 9): agreement on decidable labelled flows, and false labels. */
export const CORPUS_TARGETS = { agreement: 0.9, wrongRate: 0.01 } as const;

const pct = (c: ScoreCounts, n: number) => (c.flows === 0 ? '-' : formatRate(n / c.flows));

/**
 * The README section on the development corpus: where it comes from, the
 * totals against the targets, and the rows. Empty when the pattern
 * directory keeps no score.
 */
export function renderCorpusSection(record: CorpusScoreRecord | undefined): string[] {
  if (!record) return [];
  const { total, withPattern, rules, truth } = record;
  const meets = (c: ScoreCounts) =>
    `${c.agreement >= CORPUS_TARGETS.agreement ? 'meets' : 'misses'} the ${formatRate(CORPUS_TARGETS.agreement)} agreement target, ` +
    `${c.wrongRate < CORPUS_TARGETS.wrongRate ? 'meets' : 'misses'} the false-label target of below ${formatRate(CORPUS_TARGETS.wrongRate)}`;
  return [
    '## Development corpus',
    '',
    'Captures made elsewhere, labelled by other tools, built by `infra/corpus/build.mjs` (not committed;',
    'see `docs/corpus.md`) and scored with `l7mesh patterns score` (the numbers are kept in',
    '`corpus-score.json`, written by `--record`):',
    '',
    ...record.sources.map((s) => `- ${s.source} at \`${s.commit.slice(0, 12)}\`: ${s.captures} captures, ${s.labelledFlows} labelled flows`),
    '',
    `${truth.labelled} labelled flows in ${record.captures} captures; ${truth.matched} of them were found among the flows l7mesh reads (\`--list not-found\` names the rest).`,
    `Scored: the ${total.flows} with payload within their first ${rules.maxPackets} packets (a payload pattern can decide them).`,
    '',
    '| flows | count | agree | unknown | false label |',
    '|---|--:|--:|--:|--:|',
    `| all labelled, decidable | ${total.flows} | ${pct(total, total.agree)} | ${pct(total, total.unknown)} | ${pct(total, total.wrong)} |`,
    `| of protocols with a pattern | ${withPattern.flows} | ${pct(withPattern, withPattern.agree)} | ${pct(withPattern, withPattern.unknown)} | ${pct(withPattern, withPattern.wrong)} |`,
    '',
    `All labelled flows: ${meets(total)}. Flows of protocols with a pattern: ${meets(withPattern)}.`,
    '',
    record.wrongLabels.length === 0
      ? 'No false labels.'
      : `False labels (labelled as, classified as): ${record.wrongLabels.map((w) => `${w.protocol} as ${w.verdict} ${w.flows}`).join(', ')}.`,
    '',
    '| protocol | pattern | flows | agree | unknown | false label |',
    '|---|---|--:|--:|--:|--:|',
    ...record.protocols
      .filter((p) => p.flows > 0)
      .map((p) => `| ${p.protocol} | ${p.pattern ? 'yes' : 'no'} | ${p.flows} | ${pct(p, p.agree)} | ${p.unknown} | ${p.wrong} |`),
    '',
  ];
}
