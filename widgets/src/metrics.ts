// Metric rows as Lightning's loggers write them (metrics.csv: step, epoch, time and one column per
// metric, empty cells absent), kept as uPlot's "aligned" data: one sorted x array (the steps) and one
// y array per column, all of the same length, grown in place as rows arrive. A chart draws straight
// from these arrays, so a redraw allocates nothing proportional to the number of points.

/** A metrics.csv row: `step`, `epoch`, `time` and the metric columns (empty cells absent). */
export type MetricRow = { [column: string]: number };

/** The columns that index a row rather than measure something. */
export const INDEX_COLUMNS: readonly string[] = Object.freeze(['step', 'epoch', 'time']);

const INDEX = new Set(INDEX_COLUMNS);

/** Metric rows merged by step: `table.append(rows); table.series('val/acc')`. */
export class MetricTable {
  private readonly _x: number[] = [];
  private readonly _columns = new Map<string, (number | null)[]>();
  private readonly _counts = new Map<string, number>();
  private readonly _names: string[] = [];
  private _length = 0;
  private _version = 0;

  /** Append rows in logged order (metrics.csv order); rows with the same step share one x position
   * (a later value of the same column at the same step replaces the earlier one). */
  append(rows: MetricRow[]): void {
    for (const row of rows) {
      this._appendRow(row);
    }
    this._length += rows.length;
    if (rows.length > 0) {
      this._version++;
    }
  }

  /** Number of rows appended so far (not the number of distinct steps). */
  get length(): number {
    return this._length;
  }

  /** Increases with every change: a chart compares it to skip redraws of unchanged data. */
  get version(): number {
    return this._version;
  }

  /** The distinct steps, ascending: the shared x of every series (do not modify). */
  get steps(): readonly number[] {
    return this._x;
  }

  /** Every column except INDEX_COLUMNS, in first-seen order. */
  metricNames(): string[] {
    return this._names.slice();
  }

  /** `x` = the steps, `y` = the column's value at each step or null; both are the table's own arrays
   * (no copy), so read them, do not modify them. An unknown name gives all nulls. */
  series(name: string): { x: number[]; y: (number | null)[] } {
    const y = this._columns.get(name);
    return { x: this._x, y: y ?? new Array<number | null>(this._x.length).fill(null) };
  }

  /** Number of non-null values of a column. */
  count(name: string): number {
    return this._counts.get(name) ?? 0;
  }

  clear(): void {
    this._x.length = 0;
    this._columns.clear();
    this._counts.clear();
    this._names.length = 0;
    this._length = 0;
    this._version++;
  }

  private _appendRow(row: MetricRow): void {
    const n = this._x.length;
    const raw = row.step;
    const step = typeof raw === 'number' && Number.isFinite(raw) ? raw : n > 0 ? this._x[n - 1] : 0;
    let index: number;
    if (n === 0 || step > this._x[n - 1]) {
      index = n;
      this._x.push(step);
      for (const column of this._columns.values()) {
        column.push(null);
      }
    } else if (step === this._x[n - 1]) {
      index = n - 1;
    } else {
      // an earlier step (a run resumed from an older checkpoint): merge or insert in order
      index = lowerBound(this._x, step);
      if (this._x[index] !== step) {
        this._x.splice(index, 0, step);
        for (const column of this._columns.values()) {
          column.splice(index, 0, null);
        }
      }
    }
    for (const key in row) {
      if (key === 'step') {
        continue;
      }
      const value = row[key];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        continue;
      }
      let column = this._columns.get(key);
      if (column === undefined) {
        column = new Array<number | null>(this._x.length).fill(null);
        this._columns.set(key, column);
        if (!INDEX.has(key)) {
          this._names.push(key);
        }
      }
      if (column[index] === null) {
        this._counts.set(key, (this._counts.get(key) ?? 0) + 1);
      }
      column[index] = value;
    }
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

const isLoss = (name: string): boolean => name.toLowerCase().includes('loss');

/** The metric a run is judged by: `val/acc` if logged, else the first `val/*` that is not a loss,
 * else the first metric that is not a loss, else undefined. */
export function chooseMainMetric(names: string[]): string | undefined {
  if (names.includes('val/acc')) {
    return 'val/acc';
  }
  return names.find((n) => n.startsWith('val/') && !isLoss(n)) ?? names.find((n) => !isLoss(n));
}

/** The training loss: `train/loss` if logged, else the first name containing "loss". */
export function lossMetric(names: string[]): string | undefined {
  return names.includes('train/loss') ? 'train/loss' : names.find(isLoss);
}

/** Metrics grouped by what they measure, the part after the last '/' without Lightning's
 * `_step`/`_epoch` suffix: `loss` holds train/loss, train/loss_epoch and val/loss. Groups and the
 * metrics in each keep first-seen order. */
export function groupMetrics(names: string[]): { title: string; metrics: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const title = name.slice(name.lastIndexOf('/') + 1).replace(/_(epoch|step)$/, '') || name;
    const group = groups.get(title);
    if (group) {
      group.push(name);
    } else {
      groups.set(title, [name]);
    }
  }
  return [...groups].map(([title, metrics]) => ({ title, metrics }));
}

/** `42 s`, `3 min 05 s`, `1 h 02 min`; `—` when unknown (null, undefined, NaN, infinite). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) {
    return '—';
  }
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) {
    return `${total} s`;
  }
  const pad = (v: number): string => String(v).padStart(2, '0');
  if (total < 3600) {
    return `${Math.floor(total / 60)} min ${pad(total % 60)} s`;
  }
  return `${Math.floor(total / 3600)} h ${pad(Math.floor((total % 3600) / 60))} min`;
}
