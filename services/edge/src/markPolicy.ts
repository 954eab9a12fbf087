import type { EdgeConfig } from './config.js';

/**
 * Verdict -> mark. A protocol in a group carries the group's mark (one tc
 * filter then shapes the whole group); `unknown` has its own mark; a
 * protocol with neither its own mark nor a group gets `marks.default` when
 * there is one, else no mark at all. `unset` is never marked.
 */
export class MarkPolicy {
  readonly mask: number;
  private readonly marks = new Map<string, number>();
  private readonly groups = new Map<string, string>();
  private readonly fallback: number | undefined;

  constructor(marks: EdgeConfig['marks']) {
    this.mask = marks.mask >>> 0;
    this.marks.set('unknown', marks.unknown >>> 0);
    for (const [proto, mark] of Object.entries(marks.protocols)) this.marks.set(proto, mark >>> 0);
    for (const [name, group] of Object.entries(marks.groups)) {
      for (const proto of group.protocols) {
        this.marks.set(proto, group.mark >>> 0);
        this.groups.set(proto, name);
      }
    }
    this.fallback = marks.default === undefined ? undefined : marks.default >>> 0;
  }

  /** The l7 mark (bits under the mask only) of a verdict, or undefined when it is not marked. */
  markOf(l7: string): number | undefined {
    if (l7 === 'unset') return undefined;
    return this.marks.get(l7) ?? this.fallback;
  }

  /** The group a protocol belongs to, if any. */
  groupOf(l7: string): string | undefined {
    return this.groups.get(l7);
  }

  /** The packet mark to set: the bits outside the mask kept, ours replaced by `l7Mark`. */
  apply(packetMark: number, l7Mark: number): number {
    return ((packetMark & ~this.mask) | (l7Mark & this.mask)) >>> 0;
  }

  /** Every distinct l7 mark a verdict may get (the stateless table has a chain for each). */
  get distinctMarks(): number[] {
    const all = new Set(this.marks.values());
    if (this.fallback !== undefined) all.add(this.fallback);
    return [...all].sort((a, b) => a - b);
  }

  /** Protocols with a mark of their own or by a group (for checking against the pattern set). */
  get markedProtocols(): string[] {
    return [...this.marks.keys()].filter((p) => p !== 'unknown');
  }
}
