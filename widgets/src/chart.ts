// The one streaming chart of dltoolkit's front ends (notebook dashboards and the JupyterLab sidebar):
// a uPlot line chart of some columns of a MetricTable against the step.
//
//   const chart = new StreamChart(parent, { metrics: ['train/loss', 'val/loss'], title: 'loss' });
//   chart.update(table);   // as often as rows arrive: one redraw per animation frame at most
//   chart.dispose();
//
// The chart imports no CSS: a consumer imports 'uplot/dist/uPlot.min.css' and './chart.css'.
import uPlot from 'uplot';

import { MetricTable } from './metrics';

export interface StreamChartOptions {
  /** The MetricTable columns drawn, one line each, against the step. */
  metrics: string[];
  title?: string;
  /** Height of the plot (axes included) in CSS pixels. */
  height?: number;
  /** A mini chart: no axes labels, no legend, no cursor. */
  compact?: boolean;
  /** What the x values (the table's `step` column) are, for the axis and the legend (default `step`). */
  xLabel?: string;
}

/** Series colors, in order (Tableau 10: distinct on light and dark backgrounds). */
export const PALETTE: readonly string[] = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/** A series with at most this many points shows them as dots (a lone test/acc is still visible). */
const SPARSE_POINTS = 40;
const RENDER_TIMES_KEPT = 1000;
const renderTimes: number[] = [];

/** Durations (ms) of the last (up to 1000) redraws of every chart on the page; each is also a
 * `performance.measure('dltoolkit-chart-render')`. */
export function chartRenderTimes(): number[] {
  return renderTimes.slice();
}

function recordRender(start: number, end: number): void {
  renderTimes.push(end - start);
  if (renderTimes.length > RENDER_TIMES_KEPT) {
    renderTimes.splice(0, renderTimes.length - RENDER_TIMES_KEPT);
  }
  try {
    performance.measure('dltoolkit-chart-render', { start, end });
  } catch {
    // an environment without User Timing level 3: the array above still has it
  }
}

interface Theme {
  text: string;
  grid: string;
  font: string;
}

function cssVar(style: CSSStyleDeclaration, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = style.getPropertyValue(name).trim();
    if (value) {
      return value;
    }
  }
  return undefined;
}

/** Colors and font from JupyterLab's theme variables, else VS Code's, else the page's own. */
function readTheme(el: HTMLElement): Theme {
  const style = getComputedStyle(el);
  const family =
    cssVar(style, '--jp-ui-font-family', '--vscode-font-family') ?? 'system-ui, sans-serif';
  return {
    text:
      cssVar(style, '--jp-ui-font-color1', '--vscode-editor-foreground') || style.color || '#333',
    grid:
      cssVar(style, '--jp-border-color2', '--vscode-editorWidget-border') ??
      'rgba(128,128,128,0.25)',
    font: `11px ${family}`,
  };
}

// One observer of the page's theme (JupyterLab sets data-jp-theme-* on <body>, VS Code a body class)
// for every chart alive.
const liveCharts = new Set<StreamChart>();
let themeObserver: MutationObserver | undefined;

function watchTheme(chart: StreamChart): void {
  liveCharts.add(chart);
  if (themeObserver === undefined && typeof MutationObserver !== 'undefined' && document.body) {
    themeObserver = new MutationObserver(() => liveCharts.forEach((c) => c.refreshTheme()));
    themeObserver.observe(document.body, { attributes: true });
  }
}

function unwatchTheme(chart: StreamChart): void {
  liveCharts.delete(chart);
  if (liveCharts.size === 0 && themeObserver !== undefined) {
    themeObserver.disconnect();
    themeObserver = undefined;
  }
}

const schedule: (cb: () => void) => number =
  typeof requestAnimationFrame === 'function'
    ? (cb) => requestAnimationFrame(cb)
    : (cb) => setTimeout(cb, 16) as unknown as number;
const unschedule: (handle: number) => void =
  typeof cancelAnimationFrame === 'function'
    ? (handle) => cancelAnimationFrame(handle)
    : (handle) => clearTimeout(handle);

function formatValue(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) {
    return '—';
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(4)));
}

function lastNonNull(values: ArrayLike<number | null | undefined>): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v != null) {
      return v;
    }
  }
  return null;
}

const DEFAULT_WIDTH = 400;

export class StreamChart {
  readonly element: HTMLElement;
  private readonly _parent: HTMLElement;
  private readonly _options: StreamChartOptions;
  private readonly _plotHost: HTMLElement;
  private _metrics: string[];
  private _plot: uPlot | undefined;
  private _table: MetricTable | undefined;
  private _frame: number | undefined;
  private _drawnVersion = -1;
  private _counts: number[] = [];
  private _zoomed = false;
  private _width: number;
  private _theme: Theme;
  private _observer: ResizeObserver | undefined;
  private _disposed = false;

  constructor(parent: HTMLElement, options: StreamChartOptions) {
    this._parent = parent;
    this._options = { ...options };
    this._metrics = [...options.metrics];
    this.element = document.createElement('div');
    this.element.className = 'dltoolkit-chart';
    if (options.compact) {
      this.element.classList.add('dltoolkit-chart-compact');
    }
    this.element.setAttribute('data-points', '0');
    if (options.title) {
      const title = document.createElement('div');
      title.className = 'dltoolkit-chart-title';
      title.textContent = options.title;
      this.element.appendChild(title);
    }
    this._plotHost = document.createElement('div');
    this._plotHost.className = 'dltoolkit-chart-plot';
    this.element.appendChild(this._plotHost);
    parent.appendChild(this.element);
    this._width = this._measureWidth();
    this._theme = readTheme(this.element);
    this._build();
    watchTheme(this);
    if (typeof ResizeObserver !== 'undefined') {
      this._observer = new ResizeObserver(() => this.resize());
      this._observer.observe(parent);
    }
  }

  /** The metrics drawn (a copy). */
  get metrics(): string[] {
    return [...this._metrics];
  }

  /** The plot's width in CSS pixels. */
  get width(): number {
    return this._width;
  }

  /** Draw `table` (the same table or a new one); cheap to call often: redraws at most once per
   * animation frame, and not at all if the table has not changed since the last redraw. */
  update(table: MetricTable): void {
    if (this._disposed) {
      return;
    }
    if (table !== this._table) {
      this._table = table;
      this._drawnVersion = -1;
    }
    if (this._frame === undefined) {
      this._frame = schedule(() => {
        this._frame = undefined;
        this._redraw();
      });
    }
  }

  /** Draw other metrics (the plot is rebuilt: new series, legend and colors). */
  setMetrics(metrics: string[]): void {
    if (this._disposed) {
      return;
    }
    if (
      metrics.length === this._metrics.length &&
      metrics.every((m, i) => m === this._metrics[i])
    ) {
      return;
    }
    this._metrics = [...metrics];
    this._build();
    this._drawnVersion = -1;
    if (this._table) {
      this.update(this._table);
    }
  }

  /** Set the width (CSS px); without an argument, follow the parent's width (a ResizeObserver
   * calls this on every change of the parent's size). */
  resize(width?: number): void {
    if (this._disposed || !this._plot) {
      return;
    }
    const w = Math.floor(width ?? this._measureWidth());
    if (w > 0 && w !== this._width) {
      this._width = w;
      this._plot.setSize({ width: w, height: this._height() });
    }
  }

  /** Re-read the theme's colors and redraw (called when the page's theme changes). */
  refreshTheme(): void {
    if (this._disposed || !this._plot) {
      return;
    }
    this._theme = readTheme(this.element);
    this._plot.redraw(false, true);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._frame !== undefined) {
      unschedule(this._frame);
      this._frame = undefined;
    }
    this._observer?.disconnect();
    this._observer = undefined;
    unwatchTheme(this);
    this._plot?.destroy();
    this._plot = undefined;
    this._table = undefined;
    this.element.remove();
  }

  private _height(): number {
    return this._options.height ?? (this._options.compact ? 48 : 180);
  }

  private _measureWidth(): number {
    const w = this.element.clientWidth || this._parent.clientWidth;
    return w > 0 ? w : this._options.compact ? 160 : DEFAULT_WIDTH;
  }

  private _build(): void {
    this._plot?.destroy();
    this._zoomed = false;
    const compact = this._options.compact === true;
    const xLabel = this._options.xLabel ?? 'step';
    const theme = (): Theme => this._theme;
    const axis = (label: string): uPlot.Axis => ({
      show: !compact,
      label: compact || !label ? undefined : label,
      labelSize: label ? 14 : 0,
      labelFont: theme().font,
      font: theme().font,
      size: 44,
      stroke: () => theme().text,
      grid: { stroke: () => theme().grid, width: 1 },
      ticks: { stroke: () => theme().grid, width: 1, size: 4 },
      // whole steps as uPlot writes them; anything else (a loss, an eps) in the table's number format
      values: label === 'step' ? undefined : (_u, splits) => splits.map((v) => formatValue(v)),
    });
    // the legend shows the values under the cursor, and the latest ones when the cursor is away
    const series: uPlot.Series[] = [
      {
        label: xLabel,
        value: (u, v, _s, idx) => {
          const x = u.data[0];
          const step = idx == null ? x[x.length - 1] : v;
          return step == null ? '—' : String(step);
        },
      },
      ...this._metrics.map((name, i): uPlot.Series => ({
        label: name,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: {
          show: (_u, seriesIdx) => (this._counts[seriesIdx - 1] ?? 0) <= SPARSE_POINTS,
          size: 5,
        },
        value: (u, v, seriesIdx, idx) =>
          formatValue(idx == null ? lastNonNull(u.data[seriesIdx]) : v),
      })),
    ];
    const opts: uPlot.Options = {
      width: this._width,
      height: this._height(),
      padding: compact ? [4, 4, 4, 4] : [8, 12, 0, 0],
      scales: { x: { time: false } },
      series,
      axes: [axis(xLabel), axis('')],
      legend: { show: !compact, live: true },
      cursor: compact ? { show: false } : { drag: { x: true, y: false, setScale: true } },
      hooks: {
        // zoomed in (a drag) or not (data set, double-click): new rows keep a zoom, else show all
        setScale: [
          (u, key) => {
            if (key !== 'x') {
              return;
            }
            const x = u.data[0];
            const { min, max } = u.scales.x;
            this._zoomed =
              x.length > 1 && min != null && max != null && (min > x[0] || max < x[x.length - 1]);
          },
        ],
      },
    };
    this._plot = new uPlot(opts, this._data(), this._plotHost);
  }

  private _data(): uPlot.AlignedData {
    const table = this._table;
    if (!table) {
      return [[], ...this._metrics.map(() => [])];
    }
    // the table's own arrays, grown in place: nothing here is proportional to the number of points
    const columns = this._metrics.map((m) => table.series(m).y);
    return [table.steps as number[], ...columns];
  }

  private _redraw(): void {
    const plot = this._plot;
    const table = this._table;
    if (this._disposed || !plot || !table || table.version === this._drawnVersion) {
      return;
    }
    const start = performance.now();
    this._counts = this._metrics.map((m) => table.count(m));
    const data = this._data();
    plot.batch(() => plot.setData(data, !this._zoomed));
    this._drawnVersion = table.version;
    const points = this._counts.reduce((a, b) => a + b, 0);
    this.element.setAttribute('data-points', String(points));
    recordRender(start, performance.now());
  }
}
