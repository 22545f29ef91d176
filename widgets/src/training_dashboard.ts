// Front end of dltoolkit.dashboards.TrainingDashboard (an anywidget ES module): live curves of every
// logged metric (one chart per group: loss, acc, ...), progress with ETA, hyperparameters, a Stop button.
//
// Small state comes in traits; metric rows as custom messages from the kernel, each with only the rows
// this view does not have yet (so a message costs the same after 50,000 rows as after 50):
//   {type: 'rows', generation, offset, rows}   new rows (offset = rows logged before them in this fit)
//   {type: 'snapshot', generation, rows}       every row of the fit, answering {type: 'snapshot'}
// A view asks for a snapshot when it opens (a reloaded page has no rows) and when it finds a gap in the
// offsets. `generation` counts fits: a new one starts new curves.
//
// Hooks for browser tests: root `.dltoolkit-training`, `[data-testid="dashboard-stop"]`,
// `[data-testid="dashboard-state"]` (its text is the state), charts `.dltoolkit-chart[data-points]`.
import 'uplot/dist/uPlot.min.css';
import './chart.css';
import './dashboards.css';

import type { RenderProps } from '@anywidget/types';

import { StreamChart } from './chart';
import { MetricRow, MetricTable, groupMetrics } from './metrics';
import { Progress, ProgressView, el, setText } from './ui';

interface DashboardModel {
  generation: number;
  state: string;
  progress: Progress & { batch?: number | null; batches?: number | null };
  title: string;
  hparams: Record<string, unknown>;
  data_hparams: Record<string, unknown>;
  checkpoint: string;
  error: string;
  stop_requested: boolean;
  live_stop: boolean;
}

type KernelMessage =
  | { type: 'rows'; generation: number; offset: number; rows: MetricRow[] }
  | { type: 'snapshot'; generation: number; rows: MetricRow[] };

const ACTIVE = new Set(['starting', 'running']);
const DONE = new Set(['finished', 'stopped', 'failed']);

interface Group {
  cell: HTMLElement;
  chart: StreamChart;
}

function paramsTable(params: Record<string, unknown>): HTMLTableElement {
  const table = el('table', { class: 'dltoolkit-params' });
  for (const [key, value] of Object.entries(params)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    table.append(el('tr', {}, el('th', {}, key), el('td', {}, text ?? 'null')));
  }
  return table;
}

function render({ model, el: host }: RenderProps<DashboardModel>): () => void {
  const table = new MetricTable();
  let generation = model.get('generation');
  const groups = new Map<string, Group>();
  let layoutKey = '';

  const title = el('span', { class: 'dltoolkit-title' });
  const state = el('span', { class: 'dltoolkit-badge', 'data-testid': 'dashboard-state' });
  const stop = el('button', { class: 'dltoolkit-button', 'data-testid': 'dashboard-stop' }, 'Stop');
  const progress = new ProgressView();
  const error = el('div', { class: 'dltoolkit-error' });
  const checkpoint = el('div', { class: 'dltoolkit-checkpoint' });
  const charts = el('div', { class: 'dltoolkit-charts' });
  const waiting = el(
    'div',
    { class: 'dltoolkit-waiting' },
    'Waiting for the first logged metrics…',
  );
  const hparams = el('details', { class: 'dltoolkit-hparams' });
  const root = el(
    'div',
    { class: 'dltoolkit-training dltoolkit-dashboard' },
    el('div', { class: 'dltoolkit-header' }, title, state, stop),
    progress.element,
    error,
    checkpoint,
    waiting,
    charts,
    hparams,
  );
  host.appendChild(root);

  stop.addEventListener('click', () => {
    model.set('stop_requested', true);
    model.save_changes();
    stop.disabled = true;
    setText(stop, 'Stopping…');
  });

  function layout(): void {
    const names = table.metricNames();
    const key = names.join('\n');
    if (key === layoutKey) {
      return;
    }
    layoutKey = key;
    const wanted = groupMetrics(names);
    const titles = new Set(wanted.map((g) => g.title));
    for (const [t, group] of groups) {
      if (!titles.has(t)) {
        group.chart.dispose();
        group.cell.remove();
        groups.delete(t);
      }
    }
    for (const { title: t, metrics } of wanted) {
      let group = groups.get(t);
      if (group === undefined) {
        const cell = el('div', { class: 'dltoolkit-chart-cell' });
        group = { cell, chart: new StreamChart(cell, { metrics, title: t, height: 200 }) };
        groups.set(t, group);
      } else {
        group.chart.setMetrics(metrics);
      }
      charts.appendChild(group.cell); // (re)appended in order
    }
    waiting.hidden = names.length > 0;
  }

  function draw(): void {
    layout();
    for (const group of groups.values()) {
      group.chart.update(table);
    }
  }

  let snapshotAsked = false;
  function askSnapshot(): void {
    if (!snapshotAsked) {
      snapshotAsked = true;
      model.send({ type: 'snapshot' });
    }
  }

  /** A new fit (the trait, or a message of it arriving first): its curves start empty. */
  function setGeneration(gen: number): void {
    if (gen !== generation) {
      generation = gen;
      table.clear();
    }
  }

  function onGeneration(): void {
    setGeneration(model.get('generation'));
    draw();
  }

  function onCustom(msg: KernelMessage): void {
    if (msg.type === 'snapshot') {
      snapshotAsked = false;
    }
    if ((msg.type !== 'rows' && msg.type !== 'snapshot') || msg.generation < generation) {
      return; // (not ours, or of an earlier fit)
    }
    setGeneration(msg.generation);
    if (msg.type === 'snapshot') {
      if (msg.rows.length !== table.length) {
        // (rows only grow within a fit: a view that has as many has these, e.g. another view asked)
        table.clear();
        table.append(msg.rows);
      }
    } else if (msg.offset > table.length) {
      askSnapshot(); // rows missed (this view opened in between): all of them come with the snapshot
      return;
    } else {
      table.append(msg.rows.slice(table.length - msg.offset)); // (rows a snapshot brought: skipped)
    }
    draw();
  }

  function onState(): void {
    const s = model.get('state');
    setText(state, s);
    state.setAttribute('data-state', s);
    root.setAttribute('data-state', s);
    const requested = model.get('stop_requested');
    stop.disabled = !ACTIVE.has(s) || requested;
    setText(stop, requested && !DONE.has(s) ? 'Stopping…' : 'Stop');
    stop.title = model.get('live_stop')
      ? 'End training after this step: validation runs and checkpoints are written'
      : 'This kernel handles the click only when the cell has finished';
    onProgress();
    const err = model.get('error');
    error.hidden = !err;
    setText(error, err);
    const ckpt = model.get('checkpoint');
    checkpoint.hidden = !ckpt;
    checkpoint.replaceChildren('Checkpoint: ', el('code', {}, ckpt));
  }

  function onProgress(): void {
    const p = model.get('progress') ?? {};
    const extra: string[] = [];
    if (p.batch != null && p.batches != null && ACTIVE.has(model.get('state'))) {
      extra.push(`batch ${p.batch}/${p.batches}`);
    }
    progress.update(p, model.get('state') === 'finished', extra);
    progress.element.hidden = Object.keys(p).length === 0;
  }

  function onInfo(): void {
    setText(title, model.get('title') || 'Training');
    const model_params = model.get('hparams') ?? {};
    const data_params = model.get('data_hparams') ?? {};
    const sections: Node[] = [el('summary', {}, 'Hyperparameters')];
    if (Object.keys(model_params).length > 0) {
      sections.push(
        el('div', { class: 'dltoolkit-params-title' }, 'model'),
        paramsTable(model_params),
      );
    }
    if (Object.keys(data_params).length > 0) {
      sections.push(
        el('div', { class: 'dltoolkit-params-title' }, 'data'),
        paramsTable(data_params),
      );
    }
    hparams.replaceChildren(...sections);
    hparams.hidden = sections.length === 1;
  }

  const handlers: [string, () => void][] = [
    ['change:generation', onGeneration],
    ['change:state', onState],
    ['change:stop_requested', onState],
    ['change:error', onState],
    ['change:checkpoint', onState],
    ['change:live_stop', onState],
    ['change:progress', onProgress],
    ['change:title', onInfo],
    ['change:hparams', onInfo],
    ['change:data_hparams', onInfo],
  ];
  for (const [event, handler] of handlers) {
    model.on(event, handler);
  }
  model.on('msg:custom', onCustom);
  onInfo();
  onState();
  draw();
  askSnapshot(); // the rows so far (none before the first fit; all of them after a page reload)

  return () => {
    for (const [event, handler] of handlers) {
      model.off(event as `change:${string}`, handler);
    }
    model.off('msg:custom', onCustom);
    for (const group of groups.values()) {
      group.chart.dispose();
    }
    groups.clear();
    root.remove();
  };
}

export default { render };
