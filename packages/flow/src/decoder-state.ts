/**
 * Outcome of one decoding layer. Layers return these small integers and write
 * details into a shared LayerState instead of allocating result objects, which
 * keeps the per-packet path allocation-free.
 */
export const Status = {
  OK: 0,
  MALFORMED: 1,
  NOT_IP: 2,
  NOT_TCP_UDP: 3,
  /** The datagram is a fragment: fragment fields are filled in. */
  FRAGMENT: 4,
  UNSUPPORTED_LINK: 5,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** Network-layer kinds a link layer can hand over. */
export const L3_IPV4 = 4;
export const L3_IPV6 = 6;

/** Scratch state threaded through the layers of one decode() call. */
export class LayerState {
  /** Set by the link layer: where the IP header starts and which version to expect. */
  l3Offset = 0;
  l3Kind = 0;
  /** Set by the IP layer. */
  l4Offset = 0;
  /** End of the IP payload (trims link-layer padding and trailers). */
  l4End = 0;
  protocol = 0;
  ipLength = 0;
  /** Fragment details when the IP layer returned FRAGMENT. */
  fragOffset = 0;
  fragMore = false;
  fragId = 0;
  /** IPv6: next header carried in the fragment header (first header of the fragmentable part). */
  fragNext = 0;
  /** Bytes of IP header(s) preceding the fragmentable part (IPv4 IHL; IPv6 40 + unfragmentable extension headers). */
  fragHeaderLength = 0;
  /**
   * Diagnostic for the last failure: a constant template with %a / %b / %x
   * placeholders, filled only when someone reads it (no string building per packet).
   */
  err = '';
  errA = 0;
  errB = 0;

  fail(status: Status, template: string, a = 0, b = 0): Status {
    this.err = template;
    this.errA = a;
    this.errB = b;
    return status;
  }

  /** Expands the template: %a / %b decimal, %x errA in hex. */
  message(): string {
    return this.err
      .replace('%a', String(this.errA))
      .replace('%b', String(this.errB))
      .replace('%x', this.errA.toString(16).padStart(4, '0'));
  }
}
