// Front end of dltoolkit.dashboards.RunsPanel (an anywidget ES module): the runs of a runs root, each
// with a status badge, progress and ETA, mini charts (loss and the main metric), Stop / Resume /
// Delete and its log (expand).
//
// Statuses come in the `runs` trait; metric rows as custom messages from the kernel:
//   {type: 'rows', run_id, offset, reset, rows}   new rows of one run (offset = rows before them)
//   {type: 'snapshot', rows: {run_id: rows}}       every row, answering {action: 'snapshot'}
//   {type: 'logs', run_id, text}                   answering {action: 'logs', run_id}
// Buttons send {action: 'stop' | 'resume' | 'delete', run_id}.
//
// Hooks for browser tests: root `.dltoolkit-runs-panel`; one `[data-testid="run-<run_id>"]
// [data-state="<state>"]` per run; its buttons `[data-action="stop" | "resume" | "delete" | "logs"]`.
import 'uplot/dist/uPlot.min.css';
import './chart.css';
import './dashboards.css';

import type { RenderProps } from '@anywidget/types';

import { StreamChart } from './chart';
import { MetricRow, MetricTable, chooseMainMetric, lossMetric } from './metrics';
import { ProgressView, el, formatNumber, lastValue, setText } from './ui';

interface RunStatus {
  run_id: string;
  model?: string;
  data?: string;
  seed?: string;
  state: string;
  epoch?: number | null;
  max_epochs?: number | null;
  step?: number | null;
  total_steps?: number | null;
  eta_seconds?: number | null;
  best?: { metric: string; value: number } | null;
  error?: string | null;
  updated_at?: number | null;
  command?: string;
}

interface PanelModel {
  runs: RunStatus[];
  runs_root: string;
  pending: string[];
  message: { text?: string; level?: string; at?: number };
}

type KernelMessage =
  | { type: 'rows'; run_id: string; offset: number; reset?: boolean; rows: MetricRow[] }
  | { type: 'snapshot'; rows: { [runId: string]: MetricRow[] } }
  | { type: 'logs'; run_id: string; text: string };

const ACTIVE = new Set(['queued', 'running']);
const RESUMABLE = new Set(['stopped', 'interrupted', 'failed']);
const DELETE_CONFIRM_MS = 4000;
const LOG_REFRESH_MS = 2000;

interface MiniChart {
  metric: string;
  chart: StreamChart;
  value: HTMLElement;
}

/** One run's card. */
class RunCard {
  readonly element: HTMLElement;
  readonly table = new MetricTable();
  status: RunStatus;
  private readonly _badge: HTMLElement;
  private readonly _progress = new ProgressView();
  private readonly _charts: HTMLElement;
  private readonly _error: HTMLElement;
  private readonly _log: HTMLPreElement;
  private readonly _buttons: { [action: string]: HTMLButtonElement } = {};
  private readonly _mini: MiniChart[] = [];
  private _confirmTimer: ReturnType<typeof setTimeout> | undefined;
  private _logRequested = 0;
  private _loggedState = '';

  constructor(
    status: RunStatus,
    private readonly _send: (action: string, runId: string) => void,
  ) {
    this.status = status;
    const name = [
      status.model,
      status.data,
      status.seed != null ? `seed ${status.seed}` : undefined,
    ]
      .filter((p) => p !== undefined)
      .join(' · ');
    this._badge = el('span', { class: 'dltoolkit-badge' });
    for (const action of ['stop', 'resume', 'delete', 'logs']) {
      const label = { stop: 'Stop', resume: 'Resume', delete: 'Delete', logs: 'Log ▸' }[action];
      const button = el(
        'button',
        { class: 'dltoolkit-button', 'data-action': action },
        label ?? action,
      );
      button.addEventListener('click', () => this._click(action));
      this._buttons[action] = button;
    }
    this._charts = el('div', { class: 'dltoolkit-run-charts' });
    this._error = el('div', { class: 'dltoolkit-error' });
    this._log = el('pre', { class: 'dltoolkit-run-log' });
    this._log.hidden = true;
    this.element = el(
      'div',
      { class: 'dltoolkit-run', 'data-testid': `run-${status.run_id}` },
      el(
        'div',
        { class: 'dltoolkit-run-head' },
        el('span', { class: 'dltoolkit-run-name', title: status.run_id }, name || status.run_id),
        this._badge,
        el('span', { class: 'dltoolkit-spacer' }),
        ...Object.values(this._buttons),
      ),
      this._progress.element,
      this._error,
      this._charts,
      this._log,
    );
    this.element.querySelector('.dltoolkit-run-name')?.setAttribute('title', status.command ?? '');
  }

  get expanded(): boolean {
    return !this._log.hidden;
  }

  update(status: RunStatus, pending: boolean): void {
    this.status = status;
    const state = status.state;
    this.element.setAttribute('data-state', state);
    this._badge.setAttribute('data-state', state);
    setText(this._badge, state);
    this._buttons.stop.disabled = pending || !ACTIVE.has(state);
    this._buttons.resume.disabled = pending || !RESUMABLE.has(state);
    this._buttons.delete.disabled = pending || ACTIVE.has(state);
    this.element.classList.toggle('dltoolkit-pending', pending);
    const extra: string[] = [];
    if (status.best) {
      extra.push(`best ${status.best.metric} ${formatNumber(status.best.value)}`);
    }
    this._progress.update(
      { ...status, eta: ACTIVE.has(state) ? status.eta_seconds : null },
      state === 'finished',
      extra,
    );
    this._error.hidden = !status.error;
    setText(this._error, status.error ? String(status.error).split('\n')[0] : '');
    // an open log follows the run (at most every LOG_REFRESH_MS), and gets its last lines when it ends
    const changed = state !== this._loggedState;
    if (
      this.expanded &&
      (changed || (ACTIVE.has(state) && Date.now() - this._logRequested > LOG_REFRESH_MS))
    ) {
      this._requestLog();
    }
  }

  /** Redraw the mini charts: the loss and the main metric, whatever the run logs. */
  draw(): void {
    const names = this.table.metricNames();
    const wanted = [lossMetric(names), chooseMainMetric(names)].filter(
      (m): m is string => m !== undefined,
    );
    if (wanted.join('\n') !== this._mini.map((m) => m.metric).join('\n')) {
      this._mini.splice(0).forEach((m) => m.chart.dispose());
      this._charts.replaceChildren();
      for (const metric of wanted) {
        const cell = el('div', { class: 'dltoolkit-mini' });
        const value = el('span', { class: 'dltoolkit-mini-value' });
        cell.append(el('div', { class: 'dltoolkit-mini-head' }, el('span', {}, metric), value));
        this._charts.append(cell);
        this._mini.push({
          metric,
          value,
          chart: new StreamChart(cell, { metrics: [metric], compact: true, height: 44 }),
        });
      }
    }
    for (const mini of this._mini) {
      mini.chart.update(this.table);
      setText(mini.value, formatNumber(lastValue(this.table.series(mini.metric).y)));
    }
  }

  showLog(text: string): void {
    const atEnd = this._log.scrollTop + this._log.clientHeight >= this._log.scrollHeight - 4;
    setText(this._log, text || '(empty log)');
    if (atEnd) {
      this._log.scrollTop = this._log.scrollHeight;
    }
  }

  dispose(): void {
    clearTimeout(this._confirmTimer);
    this._mini.splice(0).forEach((m) => m.chart.dispose());
    this.element.remove();
  }

  private _requestLog(): void {
    this._logRequested = Date.now();
    this._loggedState = this.status.state;
    this._send('logs', this.status.run_id);
  }

  private _click(action: string): void {
    if (action === 'logs') {
      this._log.hidden = !this._log.hidden;
      setText(this._buttons.logs, this._log.hidden ? 'Log ▸' : 'Log ▾');
      if (!this._log.hidden) {
        this._requestLog();
      }
      return;
    }
    if (action === 'delete' && this._confirmTimer === undefined) {
      // a second click within a few seconds confirms (no dialog: it works in every front end)
      setText(this._buttons.delete, 'Confirm delete');
      this._buttons.delete.classList.add('dltoolkit-danger');
      this._confirmTimer = setTimeout(() => this._resetDelete(), DELETE_CONFIRM_MS);
      return;
    }
    if (action === 'delete') {
      this._resetDelete();
    }
    this._send(action, this.status.run_id);
  }

  private _resetDelete(): void {
    clearTimeout(this._confirmTimer);
    this._confirmTimer = undefined;
    setText(this._buttons.delete, 'Delete');
    this._buttons.delete.classList.remove('dltoolkit-danger');
  }
}

function render({ model, el: host }: RenderProps<PanelModel>): () => void {
  const cards = new Map<string, RunCard>();
  const rootLabel = el('code', { class: 'dltoolkit-runs-root' });
  const count = el('span', { class: 'dltoolkit-runs-count' });
  const message = el('div', { class: 'dltoolkit-message', 'data-testid': 'runs-message' });
  const dismiss = el(
    'button',
    { class: 'dltoolkit-button dltoolkit-dismiss', title: 'Dismiss' },
    '×',
  );
  const messageText = el('span', {});
  message.append(messageText, dismiss);
  const empty = el('div', { class: 'dltoolkit-waiting' });
  const list = el('div', { class: 'dltoolkit-runs-list' });
  const root = el(
    'div',
    { class: 'dltoolkit-runs-panel dltoolkit-dashboard' },
    el(
      'div',
      { class: 'dltoolkit-header' },
      el('span', { class: 'dltoolkit-title' }, 'Runs'),
      rootLabel,
      count,
    ),
    message,
    empty,
    list,
  );
  host.appendChild(root);

  const send = (action: string, runId?: string): void => model.send({ action, run_id: runId });
  let snapshotAsked = false;
  const askSnapshot = (): void => {
    if (!snapshotAsked) {
      snapshotAsked = true;
      send('snapshot');
    }
  };
  let messageTimer: ReturnType<typeof setTimeout> | undefined;
  dismiss.addEventListener('click', () => {
    message.hidden = true;
  });

  function onRuns(): void {
    const runs = model.get('runs') ?? [];
    const pending = new Set(model.get('pending') ?? []);
    const ids = new Set(runs.map((r) => r.run_id));
    for (const [id, card] of cards) {
      if (!ids.has(id)) {
        card.dispose();
        cards.delete(id);
      }
    }
    for (const status of runs) {
      let card = cards.get(status.run_id);
      if (card === undefined) {
        card = new RunCard(status, send);
        cards.set(status.run_id, card);
      }
      card.update(status, pending.has(status.run_id));
      list.appendChild(card.element); // newest first, as listed
    }
    setText(rootLabel, model.get('runs_root'));
    setText(count, `${runs.length} run${runs.length === 1 ? '' : 's'}`);
    empty.hidden = runs.length > 0;
    setText(
      empty,
      `No runs in ${model.get('runs_root')} yet: dltoolkit.runs.launch("mlp") starts one.`,
    );
  }

  function onMessage(): void {
    const m = model.get('message') ?? {};
    clearTimeout(messageTimer);
    message.hidden = !m.text;
    message.setAttribute('data-level', m.level ?? 'info');
    setText(messageText, m.text ?? '');
    if (m.text && m.level !== 'error') {
      messageTimer = setTimeout(() => {
        message.hidden = true;
      }, 6000);
    }
  }

  function onCustom(msg: KernelMessage): void {
    if (msg.type === 'snapshot') {
      snapshotAsked = false;
      for (const [id, rows] of Object.entries(msg.rows)) {
        const card = cards.get(id);
        if (card) {
          card.table.clear();
          card.table.append(rows);
          card.draw();
        }
      }
    } else if (msg.type === 'rows') {
      const card = cards.get(msg.run_id);
      if (card === undefined) {
        askSnapshot(); // a run this view does not show yet: its rows come with the snapshot
        return;
      }
      if (msg.reset) {
        card.table.clear();
      }
      if (msg.offset > card.table.length) {
        askSnapshot(); // rows missed (the view opened in between)
        return;
      }
      card.table.append(msg.rows.slice(card.table.length - msg.offset));
      card.draw();
    } else if (msg.type === 'logs') {
      cards.get(msg.run_id)?.showLog(msg.text);
    }
  }

  const handlers: [string, () => void][] = [
    ['change:runs', onRuns],
    ['change:pending', onRuns],
    ['change:runs_root', onRuns],
    ['change:message', onMessage],
  ];
  for (const [event, handler] of handlers) {
    model.on(event, handler);
  }
  model.on('msg:custom', onCustom);
  onRuns();
  onMessage();
  askSnapshot();

  return () => {
    for (const [event, handler] of handlers) {
      model.off(event as `change:${string}`, handler);
    }
    model.off('msg:custom', onCustom);
    clearTimeout(messageTimer);
    for (const card of cards.values()) {
      card.dispose();
    }
    cards.clear();
    root.remove();
  };
}

export default { render };
