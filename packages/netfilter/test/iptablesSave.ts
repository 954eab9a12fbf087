/** Reading `iptables-save` output in the netfilter tests. */

/** Packet counter of the first rule in `chain` whose spec contains `needle`, from `iptables-save -c`. */
export function ruleCounter(saveWithCounters: string, chain: string, needle: string): number {
  for (const line of saveWithCounters.split('\n')) {
    const m = /^\[(\d+):\d+\] -A (\S+) (.*)$/.exec(line.trim());
    if (m && m[2] === chain && m[3]!.includes(needle)) return Number(m[1]);
  }
  throw new Error(`no rule in ${chain} containing ${JSON.stringify(needle)} in:\n${saveWithCounters}`);
}

/** The `-A` lines of a chain from iptables-save output, in order. */
export function chainRules(save: string, chain: string): string[] {
  return save
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`-A ${chain} `));
}
