import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { nextFrame, Render, Stage } from './fake_model';

let renderDashboard: Render;
let renderPanel: Render;

beforeAll(async () => {
  renderDashboard = (await import('../src/training_dashboard')).default.render as unknown as Render;
  renderPanel = (await import('../src/runs_panel')).default.render as unknown as Render;
});

const stage = new Stage();
afterEach(() => stage.remove());
const mount = (render: Render, state: Record<string, unknown>) => stage.mount(render, state);

const ROWS = [
  { step: 0, epoch: 0, 'train/loss': 2.3 },
  { step: 1, epoch: 0, 'train/loss': 2.1 },
  { step: 1, epoch: 0, 'val/loss': 2.2, 'val/acc': 0.3 },
  { step: 1, epoch: 0, 'train/acc': 0.25, 'train/loss_epoch': 2.2 },
];

describe('training dashboard', () => {
  const initial = (): Record<string, unknown> => ({
    generation: 1,
    state: 'running',
    progress: { epoch: 0, max_epochs: 5, step: 2, total_steps: 10, eta: 12, elapsed: 3 },
    title: 'MLP · DigitsDataModule',
    hparams: { lr: 0.001, hidden_sizes: [16] },
    data_hparams: {},
    checkpoint: '',
    error: '',
    stop_requested: false,
    live_stop: true,
  });

  it('shows state, progress, hyperparameters and one chart per metric group', async () => {
    const [model, cleanup] = mount(renderDashboard, initial());
    const root = stage.host.querySelector('.dltoolkit-training')!;
    expect(root.querySelector('[data-testid="dashboard-state"]')!.textContent).toBe('running');
    expect(root.textContent).toContain('epoch 1/5 · step 2/10 · 3 s elapsed · ETA 12 s');
    expect(root.querySelector('.dltoolkit-params')!.textContent).toContain('[16]');
    expect(root.querySelectorAll('.dltoolkit-chart')).toHaveLength(0);
    // rows come as messages: a snapshot (asked for when the view opened), then only the new ones
    expect(model.sent).toEqual([{ type: 'snapshot' }]);
    model.emit('msg:custom', { type: 'snapshot', generation: 1, rows: ROWS.slice(0, 2) });
    model.emit('msg:custom', { type: 'rows', generation: 1, offset: 2, rows: ROWS.slice(2) });
    await nextFrame();
    const charts = [...root.querySelectorAll<HTMLElement>('.dltoolkit-chart[data-points]')];
    expect(charts.map((c) => c.querySelector('.dltoolkit-chart-title')!.textContent)).toEqual([
      'loss',
      'acc',
    ]);
    const points = (): string[] =>
      [...root.querySelectorAll<HTMLElement>('.dltoolkit-chart')].map((c) => c.dataset.points!);
    expect(points()).toEqual(['4', '2']); // 2 train + 1 val + 1 epoch loss
    // rows this view already has (a snapshot brought them) are not appended twice
    model.emit('msg:custom', { type: 'rows', generation: 1, offset: 1, rows: ROWS.slice(1) });
    await nextFrame();
    expect(points()).toEqual(['4', '2']);
    // a message of an earlier fit is ignored
    model.emit('msg:custom', { type: 'rows', generation: 0, offset: 4, rows: ROWS });
    await nextFrame();
    expect(points()).toEqual(['4', '2']);
    expect(model.sent).toHaveLength(1);
    // a new fit starts new curves
    model.set('generation', 2);
    model.emit('msg:custom', { type: 'rows', generation: 2, offset: 0, rows: ROWS.slice(0, 1) });
    await nextFrame();
    expect(root.querySelectorAll('.dltoolkit-chart')).toHaveLength(1);
    expect(root.querySelector<HTMLElement>('.dltoolkit-chart')!.dataset.points).toBe('1');
    cleanup();
    expect(stage.host.children).toHaveLength(0);
    expect(model.listeners()).toBe(0);
  });

  it('appends rows message by message, and asks for a snapshot when it missed some', async () => {
    const [model, cleanup] = mount(renderDashboard, initial());
    model.emit('msg:custom', { type: 'snapshot', generation: 1, rows: [] });
    let step = 0;
    for (let m = 0; m < 100; m++) {
      const rows = Array.from({ length: 50 }, () => ({ step: step++, 'train/loss': 1 / step }));
      model.emit('msg:custom', { type: 'rows', generation: 1, offset: m * 50, rows });
    }
    await nextFrame();
    const chart = stage.host.querySelector<HTMLElement>('.dltoolkit-chart')!;
    expect(chart.dataset.points).toBe('5000');
    // a gap (rows 5000..5049 never came): ask for everything, once, and keep what is drawn until then
    const gap = { step: 6000, 'train/loss': 0.1 };
    model.emit('msg:custom', { type: 'rows', generation: 1, offset: 5050, rows: [gap] });
    model.emit('msg:custom', { type: 'rows', generation: 1, offset: 5051, rows: [gap] });
    expect(model.sent).toEqual([{ type: 'snapshot' }, { type: 'snapshot' }]);
    const all = Array.from({ length: 5052 }, (_, i) => ({ step: i, 'train/loss': 1 / (i + 1) }));
    model.emit('msg:custom', { type: 'snapshot', generation: 1, rows: all });
    await nextFrame();
    expect(chart.dataset.points).toBe('5052');
    cleanup();
  });

  it('Stop sets stop_requested, then shows the stopped state and the checkpoint', () => {
    const [model, cleanup] = mount(renderDashboard, initial());
    const stop = stage.host.querySelector<HTMLButtonElement>('[data-testid="dashboard-stop"]')!;
    expect(stop.disabled).toBe(false);
    stop.click();
    expect(model.get('stop_requested')).toBe(true);
    expect(model.saved).toBe(1);
    expect(stop.disabled).toBe(true);
    model.set('state', 'stopping');
    expect(stop.textContent).toBe('Stopping…');
    model.set('checkpoint', '/runs/ckpt/last.ckpt');
    model.set('state', 'stopped');
    expect(stage.host.querySelector('[data-testid="dashboard-state"]')!.textContent).toBe(
      'stopped',
    );
    expect(stage.host.querySelector('.dltoolkit-checkpoint')!.textContent).toContain('last.ckpt');
    expect(stop.disabled).toBe(true);
    cleanup();
  });
});

describe('runs panel', () => {
  const run = (id: string, state: string): Record<string, unknown> => ({
    run_id: id,
    model: 'mlp',
    data: 'digits',
    seed: '0',
    state,
    epoch: 1,
    max_epochs: 4,
    step: 10,
    total_steps: 40,
    eta_seconds: 30,
    best: { metric: 'val/loss', value: 0.5 },
  });

  it('shows one card per run, asks for a snapshot, draws rows and sends button actions', async () => {
    const [model, cleanup] = mount(renderPanel, {
      runs: [run('a', 'running'), run('b', 'failed')],
      runs_root: '/runs',
      pending: [],
      message: {},
    });
    expect(model.sent).toEqual([{ action: 'snapshot', run_id: undefined }]);
    const card = stage.host.querySelector<HTMLElement>(
      '.dltoolkit-runs-panel [data-testid="run-a"]',
    )!;
    expect(card.dataset.state).toBe('running');
    expect(stage.host.querySelector('[data-testid="run-b"][data-state="failed"]')).not.toBeNull();
    expect(card.textContent).toContain('ETA 30 s');
    const button = (action: string): HTMLButtonElement =>
      card.querySelector(`[data-action="${action}"]`)!;
    expect([button('stop').disabled, button('resume').disabled, button('delete').disabled]).toEqual(
      [false, true, true],
    );
    model.emit('msg:custom', { type: 'snapshot', rows: { a: ROWS.slice(0, 2) } });
    model.emit('msg:custom', { type: 'rows', run_id: 'a', offset: 2, rows: ROWS.slice(2) });
    await nextFrame();
    const points = [...card.querySelectorAll<HTMLElement>('.dltoolkit-chart')].map(
      (c) => c.dataset.points,
    );
    expect(points).toEqual(['2', '1']); // train/loss and the main metric, val/acc
    // rows from further on than this view has: it asks for a snapshot again
    model.emit('msg:custom', { type: 'rows', run_id: 'a', offset: 9, rows: ROWS });
    expect(model.sent.at(-1)).toEqual({ action: 'snapshot', run_id: undefined });
    button('stop').click();
    expect(model.sent.at(-1)).toEqual({ action: 'stop', run_id: 'a' });
    model.set('pending', ['a']);
    expect(button('stop').disabled).toBe(true);
    // delete: the second click confirms
    model.set('runs', [run('a', 'stopped'), run('b', 'failed')]);
    model.set('pending', []);
    const sent = model.sent.length;
    button('delete').click();
    expect(model.sent).toHaveLength(sent);
    button('delete').click();
    expect(model.sent.at(-1)).toEqual({ action: 'delete', run_id: 'a' });
    // the log opens on request and shows what the kernel sends
    button('logs').click();
    expect(model.sent.at(-1)).toEqual({ action: 'logs', run_id: 'a' });
    model.emit('msg:custom', { type: 'logs', run_id: 'a', text: '$ dltoolkit fit' });
    expect(card.querySelector('pre')!.textContent).toBe('$ dltoolkit fit');
    // errors stay until dismissed; a removed run loses its card
    model.set('message', { text: "stop x: no run 'x'", level: 'error', at: 1 });
    const message = stage.host.querySelector<HTMLElement>('[data-testid="runs-message"]')!;
    expect(message.hidden).toBe(false);
    expect(message.dataset.level).toBe('error');
    model.set('runs', [run('b', 'failed')]);
    expect(stage.host.querySelector('[data-testid="run-a"]')).toBeNull();
    cleanup();
    expect(model.listeners()).toBe(0);
  });
});
