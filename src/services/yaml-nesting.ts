/**
 * How deeply a YAML text nests, measured before it is composed. The `yaml` library composes
 * collections recursively: a file of 10,000 nested `[` (or ~1,000 ever-deeper block levels)
 * overflows the stack, and a second such parse in the same process has ended Node with "FATAL
 * ERROR: RegExpCompiler Allocation failed" (found by test/fuzz/catalog.fuzz.test.ts), so a
 * catalog reload or a directory sync could kill the bot. The library's own Parser builds its
 * concrete syntax tree with an explicit stack, so walking that tree here never recurses.
 */
import { Parser } from 'yaml';

/** Far beyond any catalog or directory file (they nest fewer than ten levels). */
export const MAX_YAML_NESTING = 64;

interface Token {
  type?: string;
  offset?: number;
  value?: unknown;
  items?: Array<{ key?: unknown; value?: unknown }>;
}

const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);

/** The offset of the first collection nested deeper than `max`, or undefined when none is. */
export function tooDeepAt(text: string, max = MAX_YAML_NESTING): number | undefined {
  for (const doc of new Parser().parse(text)) {
    const stack: Array<[Token, number]> = [[doc as Token, 0]];
    while (stack.length > 0) {
      const [tok, outer] = stack.pop()!;
      const depth = tok.type && COLLECTIONS.has(tok.type) ? outer + 1 : outer;
      if (depth > max) return tok.offset ?? 0;
      if (tok.type === 'document' && tok.value && typeof tok.value === 'object') stack.push([tok.value as Token, depth]);
      for (const item of tok.items ?? []) {
        if (item.key && typeof item.key === 'object') stack.push([item.key as Token, depth]);
        if (item.value && typeof item.value === 'object') stack.push([item.value as Token, depth]);
      }
    }
  }
  return undefined;
}
