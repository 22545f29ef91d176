import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import type { StreamChart as StreamChartType } from '../src/chart';
import { MetricTable } from '../src/metrics';

// jsdom has no ResizeObserver: record what the chart observes (matchMedia: vitest.setup.mjs)
class FakeResizeObserver {
  static live = new Set<FakeResizeObserver>();
  targets: Element[] = [];
  constructor(readonly callback: ResizeObserverCallback) {
    FakeResizeObserver.live.add(this);
  }
  observe(target: Element): void {
    this.targets.push(target);
  }
  unobserve(): void {}
  disconnect(): void {
    this.targets = [];
    FakeResizeObserver.live.delete(this);
  }
  fire(): void {
    this.callback([], this as unknown as ResizeObserver);
  }
}

let StreamChart: typeof StreamChartType;
let chartRenderTimes: () => number[];

beforeAll(async () => {
  vi.stubGlobal('ResizeObserver', FakeResizeObserver);
  ({ StreamChart, chartRenderTimes } = await import('../src/chart'));
});

function rows(n: number, valEvery = 10): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  for (let step = 0; step < n; step++) {
    out.push({ step, epoch: Math.floor(step / valEvery), 'train/loss': 1 / (step + 1) });
    if (step % valEvery === valEvery - 1) {
      out.push({ step, 'val/loss': 1.1 / (step + 1), 'val/acc': step / n });
    }
  }
  return out;
}

const nextFrame = (): Promise<void> =>
  new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

let parent: HTMLElement;
beforeEach(() => {
  parent = document.createElement('div');
  document.body.appendChild(parent);
});
afterEach(() => {
  parent.remove();
});

describe('StreamChart', () => {
  it('appends its element to the parent and counts the points it draws', async () => {
    const table = new MetricTable();
    table.append(rows(100));
    const chart = new StreamChart(parent, { metrics: ['train/loss', 'val/loss'], title: 'loss' });
    expect(parent.contains(chart.element)).toBe(true);
    expect(chart.element.classList.contains('dltoolkit-chart')).toBe(true);
    expect(chart.element.getAttribute('data-points')).toBe('0');
    expect(chart.element.textContent).toContain('loss');
    chart.update(table);
    await nextFrame();
    // 100 train/loss + 10 val/loss points, on one shared x of 100 steps
    expect(chart.element.getAttribute('data-points')).toBe('110');
    expect(chart.element.querySelector('canvas')).not.toBeNull();
    // the legend names both series (non-compact)
    const legend = chart.element.querySelector('.u-legend')?.textContent ?? '';
    expect(legend).toContain('train/loss');
    expect(legend).toContain('val/loss');
    table.append(rows(200).slice(-5));
    chart.update(table);
    await nextFrame();
    expect(Number(chart.element.getAttribute('data-points'))).toBeGreaterThan(110);
    chart.dispose();
  });

  it('coalesces many updates into one redraw per frame, and skips unchanged data', async () => {
    const table = new MetricTable();
    const chart = new StreamChart(parent, { metrics: ['train/loss'] });
    const before = chartRenderTimes().length;
    for (const row of rows(50)) {
      table.append([row]);
      chart.update(table);
    }
    expect(chartRenderTimes().length).toBe(before); // nothing drawn synchronously
    await nextFrame();
    expect(chartRenderTimes().length).toBe(before + 1);
    expect(chart.element.getAttribute('data-points')).toBe('50');
    chart.update(table); // same data: no redraw
    await nextFrame();
    expect(chartRenderTimes().length).toBe(before + 1);
    expect(chartRenderTimes().every((ms) => ms >= 0)).toBe(true);
    chart.dispose();
  });

  it('changes its metrics with setMetrics', async () => {
    const table = new MetricTable();
    table.append(rows(100));
    const chart = new StreamChart(parent, { metrics: ['train/loss'] });
    chart.update(table);
    await nextFrame();
    expect(chart.element.getAttribute('data-points')).toBe('100');
    chart.setMetrics(['val/acc', 'val/loss', 'not/logged']);
    await nextFrame();
    expect(chart.element.getAttribute('data-points')).toBe('20');
    expect(chart.metrics).toEqual(['val/acc', 'val/loss', 'not/logged']);
    const legend = chart.element.querySelector('.u-legend')?.textContent ?? '';
    expect(legend).toContain('val/acc');
    expect(legend).not.toContain('train/loss');
    chart.dispose();
  });

  it('names its x values with xLabel (step by default)', async () => {
    const table = new MetricTable();
    table.append([0, 0.1, 0.2].map((eps, i) => ({ step: eps, accuracy: 1 - i / 3 })));
    const plain = new StreamChart(parent, { metrics: ['accuracy'] });
    const curve = new StreamChart(parent, { metrics: ['accuracy'], xLabel: 'eps' });
    for (const chart of [plain, curve]) {
      chart.update(table);
    }
    await nextFrame();
    const firstLabel = (c: StreamChartType): string =>
      c.element.querySelector('.u-legend .u-series .u-label')?.textContent ?? '';
    expect(firstLabel(plain)).toBe('step');
    expect(firstLabel(curve)).toBe('eps');
    expect(curve.element.getAttribute('data-points')).toBe('3');
    plain.dispose();
    curve.dispose();
  });

  it('is compact without legend or axis labels', async () => {
    const table = new MetricTable();
    table.append(rows(30));
    const chart = new StreamChart(parent, { metrics: ['train/loss'], compact: true, height: 40 });
    chart.update(table);
    await nextFrame();
    expect(chart.element.classList.contains('dltoolkit-chart-compact')).toBe(true);
    expect(chart.element.querySelector('.u-legend')).toBeNull();
    expect(chart.element.getAttribute('data-points')).toBe('30');
    chart.dispose();
  });

  it('follows its parent width and resizes on request', async () => {
    const chart = new StreamChart(parent, { metrics: ['train/loss'], height: 100 });
    const observer = [...FakeResizeObserver.live].find((o) => o.targets.includes(parent));
    expect(observer).toBeDefined();
    const wrap = chart.element.querySelector('.u-wrap') as HTMLElement;
    chart.resize(321);
    await Promise.resolve(); // uPlot applies a size in a microtask
    expect(chart.width).toBe(321);
    expect(wrap.style.width).toBe('321px');
    expect(wrap.style.height).toBe('100px');
    Object.defineProperty(parent, 'clientWidth', { configurable: true, value: 555 });
    observer!.fire();
    await Promise.resolve();
    expect(wrap.style.width).toBe('555px');
    chart.dispose();
  });

  it('dispose removes the element and disconnects its observers; later calls are no-ops', async () => {
    const table = new MetricTable();
    table.append(rows(20));
    const live = FakeResizeObserver.live.size;
    const chart = new StreamChart(parent, { metrics: ['train/loss'] });
    expect(FakeResizeObserver.live.size).toBe(live + 1);
    chart.update(table); // a redraw pending: dispose cancels it
    const before = chartRenderTimes().length;
    chart.dispose();
    expect(parent.contains(chart.element)).toBe(false);
    expect(parent.querySelector('.uplot')).toBeNull();
    expect(FakeResizeObserver.live.size).toBe(live);
    chart.update(table);
    chart.setMetrics(['val/loss']);
    chart.resize(300);
    chart.dispose();
    await nextFrame();
    expect(chartRenderTimes().length).toBe(before);
  });

  it('keeps 10 charts of 10,000 points each quick to redraw', async () => {
    const table = new MetricTable();
    table.append(rows(10_000, 100));
    const charts = Array.from(
      { length: 10 },
      () => new StreamChart(parent, { metrics: ['train/loss', 'val/loss'] }),
    );
    const before = chartRenderTimes().length;
    charts.forEach((c) => c.update(table));
    await nextFrame();
    const times = chartRenderTimes().slice(before);
    expect(times.length).toBe(10);
    charts.forEach((c) => expect(c.element.getAttribute('data-points')).toBe('10100'));
    charts.forEach((c) => c.dispose());
  });
});
