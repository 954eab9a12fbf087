/** A set of byte values 0-255 (a bracket expression's members), as 256 bits. */
export class ByteSet {
  readonly #bits = new Uint32Array(8);

  add(byte: number): void {
    this.#bits[byte >>> 5]! |= 1 << (byte & 31);
  }

  addRange(from: number, to: number): void {
    for (let b = from; b <= to; b++) this.add(b);
  }

  addSet(other: ByteSet): void {
    for (let i = 0; i < 8; i++) this.#bits[i]! |= other.#bits[i]!;
  }

  equals(other: ByteSet): boolean {
    return this.#bits.every((word, i) => word === other.#bits[i]);
  }

  has(byte: number): boolean {
    return (this.#bits[byte >>> 5]! & (1 << (byte & 31))) !== 0;
  }

  get size(): number {
    let n = 0;
    for (let b = 0; b < 256; b++) if (this.has(b)) n++;
    return n;
  }

  /** Maximal runs of members, ascending, as [first, last] pairs. */
  ranges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let b = 0;
    while (b < 256) {
      if (!this.has(b)) {
        b++;
        continue;
      }
      const first = b;
      while (b + 1 < 256 && this.has(b + 1)) b++;
      out.push([first, b]);
      b++;
    }
    return out;
  }
}

const range = (from: string, to: string): Array<[number, number]> => [[from.charCodeAt(0), to.charCodeAt(0)]];

/** POSIX classes in the C locale: ASCII only, as the kernel's ctype had it. */
const POSIX_CLASSES: Record<string, Array<[number, number]>> = {
  alpha: [...range('A', 'Z'), ...range('a', 'z')],
  digit: range('0', '9'),
  alnum: [...range('0', '9'), ...range('A', 'Z'), ...range('a', 'z')],
  upper: range('A', 'Z'),
  lower: range('a', 'z'),
  xdigit: [...range('0', '9'), ...range('A', 'F'), ...range('a', 'f')],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  print: [[0x20, 0x7e]],
  graph: [[0x21, 0x7e]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
};

/** The members of `[:name:]`, or undefined for a name POSIX does not define. */
export function posixClass(name: string): ByteSet | undefined {
  const ranges = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
  if (!ranges) return undefined;
  const set = new ByteSet();
  for (const [from, to] of ranges) set.addRange(from, to);
  return set;
}
