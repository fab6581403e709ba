/** The bounds on what a mirror list may hold, so that hostile input is refused before it costs time or memory. */

/**
 * The largest mirror list read: 2 MiB. A 5000-image list of one reference a line weighs 220 KiB, the same list
 * as objects with three tags and a platform each 560 KiB; a 2 MiB list (50 000 references) parses in about 4 s
 * within 300 MB of memory. With MAX_LIST_ITEMS, MAX_DEPTH and the alias bound, the worst 2 MiB input measured
 * (99 990 duplicate keys) takes 5 s and under 500 MB.
 */
export const MAX_LIST_BYTES = 2 * 1024 * 1024;

/** The deepest nesting read (mappings and lists inside one another); the schema itself needs 7, chart values a few more. */
export const MAX_DEPTH = 64;

/**
 * Lines plus flow separators (`,`) at most: a bound on the nodes the YAML parser builds (its memory, and its
 * duplicate-key check, which is quadratic). A 5000-image list has 5000 to 25 000.
 */
export const MAX_LIST_ITEMS = 100_000;

/** Alias-like tokens (`*name`) beyond which the text is refused before the YAML parser builds them all. */
export const MAX_ALIAS_TOKENS = 1000;

/** The pre-scan's own depth bound: above MAX_DEPTH, so that the node walk reports moderate nesting at its exact node. */
export const PRESCAN_DEPTH = 2 * MAX_DEPTH;

/** Problems listed one by one; the rest are counted in one last line. */
export const MAX_PROBLEMS = 200;

/** Problems of one kind (aliases, tags) reported one by one, before a summary line. */
export const MAX_REPEATED = 20;

export const TOO_LARGE_HINT =
  "a list of 5000 images weighs about 250 KiB: split the list, or look for generated or pasted content";

export const TOO_DEEP_HINT =
  "a mirror list needs a few levels of nesting; look for generated or pasted content";
