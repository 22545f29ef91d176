// Run ids, progress and numbers as the run cards show them.
import { describe, expect, it } from 'vitest';

import { formatValue, parseRunId, progressOf, timeAgo } from '../src/format';

describe('parseRunId', () => {
  it('reads model, data, seed and time from a CleanRL-style id', () => {
    const parts = parseRunId('mlp__digits__3__20261125-182534-1dc8');
    expect(parts).toMatchObject({
      model: 'mlp',
      data: 'digits',
      seed: 3,
      time: '2026-11-25 18:25:34',
    });
    expect(parts?.date).toEqual(new Date(2026, 10, 25, 18, 25, 34));
  });

  it('keeps a model name with underscores, and a double underscore, whole', () => {
    expect(parseRunId('softmax_regression__digits28__0__20260101-000000-abcd')?.model).toBe(
      'softmax_regression',
    );
    expect(parseRunId('my__net__shapes__12__20260101-000000-abcd')).toMatchObject({
      model: 'my__net',
      data: 'shapes',
      seed: 12,
    });
  });

  it('answers undefined for ids of another shape', () => {
    for (const id of [
      'handmade',
      'a__b__c',
      'mlp__digits__x__20260101-000000-abcd',
      'mlp__digits__0__2026',
    ]) {
      expect(parseRunId(id)).toBeUndefined();
    }
  });
});

describe('progressOf', () => {
  it('is steps done of the total, with the epoch counted from one while running', () => {
    expect(
      progressOf({ state: 'running', step: 21, total_steps: 42, epoch: 1, max_epochs: 2 }),
    ).toEqual({
      percent: 50,
      text: 'step 21 / 42 · epoch 2 / 2',
    });
  });

  it('is full when finished, empty when queued, unknown without a total', () => {
    expect(
      progressOf({ state: 'finished', step: 42, total_steps: 42, epoch: 2, max_epochs: 2 }).percent,
    ).toBe(100);
    expect(progressOf({ state: 'queued' })).toEqual({ percent: 0, text: '' });
    expect(progressOf({ state: 'running', step: 7, total_steps: null }).percent).toBeUndefined();
    expect(progressOf({ state: 'running', step: 50, total_steps: 42 }).percent).toBe(100);
  });
});

describe('formatValue and timeAgo', () => {
  it('formats metric values in a few digits', () => {
    expect(formatValue(0.98432112)).toBe('0.9843');
    expect(formatValue(123.456)).toBe('123.5');
    expect(formatValue(0.0000123)).toBe('1.23e-5');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(null)).toBe('–');
    expect(formatValue(NaN)).toBe('–');
  });

  it('says how long ago', () => {
    const now = new Date(2026, 0, 2, 12, 0, 0);
    expect(timeAgo(new Date(2026, 0, 2, 11, 59, 30), now)).toBe('just now');
    expect(timeAgo(new Date(2026, 0, 2, 11, 45, 0), now)).toBe('15 min ago');
    expect(timeAgo(new Date(2026, 0, 2, 9, 0, 0), now)).toBe('3 h ago');
    expect(timeAgo(new Date(2025, 11, 30, 9, 0, 0), now)).toBe('2025-12-30');
  });
});
