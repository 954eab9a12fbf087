/** What the header comments of a `.pat` file say about the pattern. */
export interface PatternMetadata {
  description?: string;
  attributes: string[];
  quality?: string;
  speed: string[];
  overmatch: boolean;
  undermatch: boolean;
  subset: boolean;
  superset: boolean;
  groups: string[];
  wiki?: string;
  meta: Record<string, string>;
}

/** Quality words of l7-protocols' "Pattern attributes"/"Pattern quality" lines, best first. */
const QUALITY_WORDS = new Set(['great', 'good', 'ok', 'marginal', 'poor', 'notsupported', 'unsupported']);
/** Speed words; the newer format gives two (kernel, then userspace). "nosofast" is an old misspelling. */
const SPEED_WORDS = new Set(['veryfast', 'fast', 'notsofast', 'nosofast', 'slow', 'veryslow']);

/**
 * `# Key: value`: a short key of words, a colon, then a space or nothing.
 * The space keeps `# http://example` from reading as key "http".
 */
const KEY_LINE = /^#\s*([A-Za-z][A-Za-z0-9 _-]{0,39}?)\s*:(?:\s+(.*?))?\s*$/;
/** A continuation of the previous key's value: `#` and an indent of two or more. */
const CONTINUATION = /^#\s{2,}(\S.*?)\s*$/;

/** Keys that, on the first comment line, mean the file has no title line. */
const TITLE_IS_NOT = new Set(['pattern attributes', 'pattern quality', 'pattern-quality', 'protocol groups', 'pattern groups', 'wiki']);
/** Sample lines are many per file and have their own fields. */
const SAMPLE_KEYS = new Set(['sample-match', 'sample-nomatch']);

/** A list value's words: l7-protocols separates them by spaces, some files by commas. */
const words = (value: string) => value.split(/[\s,]+/).filter((w) => w !== '').map((w) => w.toLowerCase());

/**
 * Reads the comment lines above the protocol name. Every `# Key: value` line
 * lands in `meta` (key lowercased, first one wins; indented `#   ...` lines
 * continue it), and the known keys fill the typed fields: "Pattern
 * attributes" (older files: "Pattern quality"), "Protocol groups" (also
 * "Pattern groups"), "Wiki". The first comment, `# NAME - description`, gives
 * the description.
 */
export function parseHeaderComments(comments: readonly string[]): PatternMetadata {
  const meta: Record<string, string> = {};
  let description: string | undefined;
  let lastKey: string | undefined;
  let sawTitle = false;
  for (const line of comments) {
    const text = line.replace(/^#+/, '').trim();
    const key = KEY_LINE.exec(line);
    const name = key?.[1]!.toLowerCase();
    if (!sawTitle && text !== '') {
      sawTitle = true;
      // The first comment is the title, `# NAME - description`, even when it
      // happens to hold a colon ("# OpenFT : P2P network ...").
      if (name === undefined || !TITLE_IS_NOT.has(name)) {
        const dash = text.indexOf(' - ');
        description = dash >= 0 ? text.slice(dash + 3).trim() : text;
        continue;
      }
    }
    // An indented line right after a key continues its value, even if it holds a colon.
    const more = lastKey ? CONTINUATION.exec(line) : null;
    if (more && lastKey) {
      meta[lastKey] = meta[lastKey] === '' ? more[1]! : `${meta[lastKey]} ${more[1]!}`;
      continue;
    }
    if (key && name !== undefined) {
      lastKey = Object.hasOwn(meta, name) || SAMPLE_KEYS.has(name) ? undefined : name;
      if (lastKey) meta[lastKey] = key[2] ?? '';
      continue;
    }
    lastKey = undefined;
  }
  const pick = (...keys: string[]) => keys.map((k) => meta[k]).find((v) => v !== undefined);
  const attributes = words(pick('pattern attributes', 'pattern quality', 'pattern-quality', 'pattern-attributes') ?? '');
  const wiki = pick('wiki');
  const quality = attributes.find((w) => QUALITY_WORDS.has(w));
  return {
    ...(description ? { description } : {}),
    attributes,
    ...(quality ? { quality } : {}),
    speed: attributes.filter((w) => SPEED_WORDS.has(w)),
    overmatch: attributes.includes('overmatch'),
    undermatch: attributes.includes('undermatch'),
    subset: attributes.includes('subset'),
    superset: attributes.includes('superset'),
    groups: words(pick('protocol groups', 'pattern groups') ?? ''),
    ...(wiki ? { wiki } : {}),
    meta,
  };
}
