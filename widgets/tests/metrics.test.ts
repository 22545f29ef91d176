import { describe, expect, it } from 'vitest';

import {
  INDEX_COLUMNS,
  MetricTable,
  chooseMainMetric,
  formatDuration,
  groupMetrics,
  lossMetric,
} from '../src/metrics';

// rows as Lightning's CSVLogger writes them for 2 epochs of 4 steps, logging every 2 steps: train
// rows, then validation's and the epoch's rows at the epoch's last step (same step: one x position)
const ROWS = [
  { step: 1, epoch: 0, 'train/loss': 2.0, 'train/acc': 0.2, time: 100 },
  { step: 3, epoch: 0, 'train/loss': 1.5, 'train/acc': 0.4, time: 101 },
  { step: 3, epoch: 0, 'val/loss': 1.6, 'val/acc': 0.45, time: 102 },
  { step: 3, epoch: 0, 'train/loss_epoch': 1.7, time: 102 },
  { step: 5, epoch: 1, 'train/loss': 1.0, 'train/acc': 0.6, time: 103 },
  { step: 7, epoch: 1, 'train/loss': 0.8, 'train/acc': 0.7, time: 104 },
  { step: 7, epoch: 1, 'val/loss': 0.9, 'val/acc': 0.72, time: 105 },
  { step: 7, epoch: 1, 'train/loss_epoch': 0.9, time: 105 },
];

describe('MetricTable', () => {
  it('merges rows of the same step into one x position', () => {
    const table = new MetricTable();
    table.append(ROWS);
    expect(table.length).toBe(8);
    expect(table.steps).toEqual([1, 3, 5, 7]);
    expect(table.series('train/loss')).toEqual({ x: [1, 3, 5, 7], y: [2.0, 1.5, 1.0, 0.8] });
    expect(table.series('epoch').y).toEqual([0, 0, 1, 1]);
  });

  it('gives sparse metrics as series with nulls, and counts their points', () => {
    const table = new MetricTable();
    table.append(ROWS.slice(0, 4));
    table.append(ROWS.slice(4));
    expect(table.series('val/acc').y).toEqual([null, 0.45, null, 0.72]);
    expect(table.series('train/loss_epoch').y).toEqual([null, 1.7, null, 0.9]);
    expect(table.count('val/acc')).toBe(2);
    expect(table.count('train/loss')).toBe(4);
    // a metric never logged: all nulls, same length as x
    expect(table.series('test/acc')).toEqual({ x: [1, 3, 5, 7], y: [null, null, null, null] });
  });

  it('lists metric names in first-seen order, without the index columns', () => {
    const table = new MetricTable();
    table.append(ROWS);
    expect(table.metricNames()).toEqual([
      'train/loss',
      'train/acc',
      'val/loss',
      'val/acc',
      'train/loss_epoch',
    ]);
    expect(INDEX_COLUMNS).toEqual(['step', 'epoch', 'time']);
  });

  it('keeps x sorted when an earlier step comes back (a resumed run), merging or inserting', () => {
    const table = new MetricTable();
    table.append([
      { step: 10, 'train/loss': 1 },
      { step: 20, 'train/loss': 0.5 },
    ]);
    table.append([
      { step: 15, 'train/loss': 0.7 },
      { step: 20, 'val/loss': 0.6 },
      { step: 10, 'train/loss': 0.9 },
    ]);
    expect(table.series('train/loss')).toEqual({ x: [10, 15, 20], y: [0.9, 0.7, 0.5] });
    expect(table.series('val/loss').y).toEqual([null, null, 0.6]);
    expect(table.count('train/loss')).toBe(3);
  });

  it('skips values that are not finite numbers and changes version only on change', () => {
    const table = new MetricTable();
    const v0 = table.version;
    table.append([]);
    expect(table.version).toBe(v0);
    table.append([{ step: 0, 'train/loss': NaN, 'val/acc': Infinity, 'train/acc': 0.5 }]);
    expect(table.version).toBeGreaterThan(v0);
    expect(table.metricNames()).toEqual(['train/acc']);
    expect(table.count('train/loss')).toBe(0);
  });

  it('clears everything', () => {
    const table = new MetricTable();
    table.append(ROWS);
    const { x } = table.series('train/loss');
    table.clear();
    expect(table.length).toBe(0);
    expect(table.metricNames()).toEqual([]);
    expect(x).toEqual([]); // the same arrays, emptied: a chart holding them draws nothing
    table.append([{ step: 2, 'a/b': 1 }]);
    expect(table.series('a/b')).toEqual({ x: [2], y: [1] });
  });
});

describe('metric choice', () => {
  it('prefers val/acc, then a val metric that is not a loss, then any non-loss', () => {
    expect(chooseMainMetric(['train/loss', 'train/acc', 'val/loss', 'val/acc'])).toBe('val/acc');
    expect(chooseMainMetric(['train/loss', 'val/loss', 'val/f1', 'val/mae'])).toBe('val/f1');
    expect(chooseMainMetric(['train/loss', 'train/return', 'val/loss'])).toBe('train/return');
    expect(chooseMainMetric(['train/loss', 'val/loss'])).toBeUndefined();
    expect(chooseMainMetric([])).toBeUndefined();
  });

  it('finds the training loss', () => {
    expect(lossMetric(['val/loss', 'train/loss_epoch', 'train/loss'])).toBe('train/loss');
    expect(lossMetric(['val/acc', 'losses/td_loss', 'val/loss'])).toBe('losses/td_loss');
    expect(lossMetric(['val/acc'])).toBeUndefined();
  });

  it('groups metrics by what they measure', () => {
    const names = [
      'train/loss',
      'train/acc',
      'val/loss',
      'val/acc',
      'train/loss_epoch',
      'charts/SPS',
      'lr',
      'test/acc',
    ];
    expect(groupMetrics(names)).toEqual([
      { title: 'loss', metrics: ['train/loss', 'val/loss', 'train/loss_epoch'] },
      { title: 'acc', metrics: ['train/acc', 'val/acc', 'test/acc'] },
      { title: 'SPS', metrics: ['charts/SPS'] },
      { title: 'lr', metrics: ['lr'] },
    ]);
    expect(groupMetrics([])).toEqual([]);
  });
});

describe('formatDuration', () => {
  it('writes seconds, minutes or hours', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(0.4)).toBe('0 s');
    expect(formatDuration(59.6)).toBe('1 min 00 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3725)).toBe('1 h 02 min');
    expect(formatDuration(90061)).toBe('25 h 01 min');
  });

  it('writes a dash when unknown', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(NaN)).toBe('—');
    expect(formatDuration(Infinity)).toBe('—');
  });
});
