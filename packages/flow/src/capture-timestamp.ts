const TWO32 = 4294967296;

/**
 * Converts pcapng 64-bit timestamps (two 32-bit words counting interface-specific
 * units since the epoch, plus if_tsoffset seconds) into seconds + nanoseconds.
 * A nanosecond epoch timestamp is ~1.7e18, beyond exact double range, so the
 * common case (units <= 2^32 per second) uses an exact long division on 16-bit
 * digits instead of BigInt; only exotic resolutions take the BigInt path.
 */
export class TimestampUnits {
  /** Units per second. */
  readonly unitsPerSec: number;
  /** Results of the last convert(). */
  sec = 0;
  nsec = 0;
  /** Nanoseconds per unit when that is an exact integer (power-of-ten resolutions up to 1 ns), else 0. */
  private readonly nsPerUnit: number;
  private readonly slow: boolean;

  /**
   * @param tsresol if_tsresol option byte: MSB clear = 10^-n s units, MSB set = 2^-n s units (default 6 = microseconds).
   * @param offsetSec if_tsoffset: seconds added to every timestamp.
   */
  constructor(
    tsresol: number,
    private readonly offsetSec: number,
  ) {
    const exp = tsresol & 0x7f;
    this.unitsPerSec = tsresol & 0x80 ? 2 ** exp : 10 ** exp;
    this.nsPerUnit = !(tsresol & 0x80) && exp <= 9 ? 10 ** (9 - exp) : 0;
    this.slow = this.unitsPerSec > TWO32;
  }

  convert(high: number, low: number): void {
    const r = this.unitsPerSec;
    if (this.slow) {
      this.convertBig(high, low);
      return;
    }
    const qh = Math.floor(high / r);
    const rh = high - qh * r;
    const x = rh * 65536 + (low >>> 16);
    const q1 = Math.floor(x / r);
    const y = (x - q1 * r) * 65536 + (low & 0xffff);
    const q2 = Math.floor(y / r);
    const rem = y - q2 * r;
    this.sec = qh * TWO32 + q1 * 65536 + q2 + this.offsetSec;
    this.nsec = this.nsPerUnit !== 0 ? rem * this.nsPerUnit : Math.floor((rem * 1e9) / r);
  }

  private convertBig(high: number, low: number): void {
    const r = BigInt(this.unitsPerSec);
    const t = (BigInt(high) << 32n) | BigInt(low);
    this.sec = Number(t / r) + this.offsetSec;
    this.nsec = Number(((t % r) * 1_000_000_000n) / r);
  }
}
