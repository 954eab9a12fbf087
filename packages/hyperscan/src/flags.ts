/** Per-pattern compile flags; the values are libhs' HS_FLAG_* constants. */
export const HsFlag = {
  CASELESS: 1,
  DOTALL: 2,
  MULTILINE: 4,
  SINGLEMATCH: 8,
  ALLOWEMPTY: 16,
  UTF8: 32,
  UCP: 64,
  PREFILTER: 128,
  SOM_LEFTMOST: 256,
} as const;
