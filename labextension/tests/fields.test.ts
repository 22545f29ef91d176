// The launch form's one-box editor of number lists (hidden_sizes: "64, 32").
import { describe, expect, it } from 'vitest';

import { formatNumberList, parseNumberList } from '../src/fields';

describe('number lists', () => {
  it('parses commas, spaces and brackets', () => {
    expect(parseNumberList('64, 32')).toEqual([64, 32]);
    expect(parseNumberList(' 64 32 ')).toEqual([64, 32]);
    expect(parseNumberList('[1,2,3]')).toEqual([1, 2, 3]);
    expect(parseNumberList('0.5, 1e-3')).toEqual([0.5, 0.001]);
    expect(parseNumberList('')).toEqual([]);
  });

  it('gives back text that is not a list of numbers, for the schema to report', () => {
    expect(parseNumberList('64, x')).toBe('64, x');
  });

  it('formats a list back', () => {
    expect(formatNumberList([256, 128])).toBe('256, 128');
    expect(formatNumberList('64, x')).toBe('64, x');
    expect(formatNumberList(undefined)).toBe('');
  });
});
