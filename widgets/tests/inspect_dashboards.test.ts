import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { nextFrame, Render, Stage } from './fake_model';

let renderExplain: Render;
let renderAttack: Render;

beforeAll(async () => {
  renderExplain = (await import('../src/explain_dashboard')).default.render as unknown as Render;
  renderAttack = (await import('../src/attack_dashboard')).default.render as unknown as Render;
});

const stage = new Stage();
afterEach(() => stage.remove());
const mount = (render: Render, state: Record<string, unknown>) => stage.mount(render, state);

const PNG = (n: number): string => `data:image/png;base64,${n}`;
const CLASSES = Array.from({ length: 10 }, (_, i) => String(i));
const SAMPLES = [
  { index: 0, label: 0, predicted: 0, image: PNG(0) },
  { index: 1, label: 1, predicted: 7, image: PNG(1) },
  { index: 2, label: 2, predicted: 2, image: PNG(2) },
];
const common = (): Record<string, unknown> => ({
  title: 'MLP · DigitsDataModule',
  classes: CLASSES,
  total: 64,
  samples: SAMPLES,
  index: 0,
  busy: true,
  message: {},
  result: {},
});
const TOP = [
  { class: '3', index: 3, probability: 0.9 },
  { class: '5', index: 5, probability: 0.06 },
  { class: '8', index: 8, probability: 0.004 },
];

const q = <T extends HTMLElement = HTMLElement>(testid: string): T =>
  stage.host.querySelector<T>(`[data-testid="${testid}"]`)!;

function change(input: HTMLInputElement | HTMLSelectElement, value: string | boolean): void {
  if (typeof value === 'boolean') {
    (input as HTMLInputElement).checked = value;
  } else {
    input.value = value;
  }
  input.dispatchEvent(new Event('change'));
}

describe('explain dashboard', () => {
  const initial = (): Record<string, unknown> => ({
    ...common(),
    method: 'integrated_gradients',
    target: null,
    smoothgrad: false,
    methods: ['integrated_gradients', 'saliency', 'grad_cam'],
  });

  it('shows the grid and the controls, and sends the choices as traits', () => {
    const [model, cleanup] = mount(renderExplain, initial());
    const root = q('explain-dashboard');
    expect(root.hasAttribute('data-busy')).toBe(true);
    expect(q('explain-state').textContent).toBe('running');
    expect(root.querySelector('.dltoolkit-waiting')!.textContent).toBe('Computing…');
    expect(root.querySelector<HTMLElement>('.dltoolkit-result')!.hidden).toBe(true);
    // the grid: one button per sample, the chosen one marked, a misclassified one flagged
    expect(root.querySelectorAll('.dltoolkit-sample')).toHaveLength(3);
    expect(q('sample-0').classList.contains('dltoolkit-selected')).toBe(true);
    expect(q('sample-1').classList.contains('dltoolkit-miss')).toBe(true);
    expect(q('sample-1').textContent).toBe('1→7');
    expect(q<HTMLImageElement>('sample-2').querySelector('img')!.getAttribute('src')).toBe(PNG(2));
    const method = q<HTMLSelectElement>('explain-method');
    const target = q<HTMLSelectElement>('explain-target');
    expect([...method.options].map((o) => o.value)).toEqual(initial().methods);
    expect(method.value).toBe('integrated_gradients');
    expect([...target.options].map((o) => o.textContent)).toEqual(['predicted', ...CLASSES]);
    expect(target.value).toBe('predicted');
    // each control sets its trait and saves it: the kernel computes a new result
    q('sample-2').click();
    expect(model.get('index')).toBe(2);
    expect(q('sample-2').classList.contains('dltoolkit-selected')).toBe(true);
    expect(q('sample-0').classList.contains('dltoolkit-selected')).toBe(false);
    change(q<HTMLInputElement>('sample-index'), '40'); // beyond the grid
    expect(model.get('index')).toBe(40);
    change(method, 'saliency');
    expect(model.get('method')).toBe('saliency');
    change(target, '3');
    expect(model.get('target')).toBe(3);
    change(target, 'predicted');
    expect(model.get('target')).toBeNull();
    change(q<HTMLInputElement>('explain-smoothgrad'), true);
    expect(model.get('smoothgrad')).toBe(true);
    expect(model.saved).toBe(6);
    q('explain-run').click();
    expect(model.sent).toEqual([{ action: 'run' }]);
    // a choice made in Python shows in the controls
    model.set('method', 'grad_cam');
    expect(method.value).toBe('grad_cam');
    cleanup();
    expect(stage.host.children).toHaveLength(0);
    expect(model.listeners()).toBe(0);
  });

  it('shows the result: input, overlay, heatmap, top classes; then an error', () => {
    const [model, cleanup] = mount(renderExplain, initial());
    model.set('result', {
      index: 2,
      label: 5,
      method: 'saliency',
      target: 3,
      smoothgrad: true,
      top: TOP,
      image: PNG(10),
      overlay: PNG(11),
      heatmap: PNG(12),
      seconds: 0.0123,
    });
    model.set('busy', false);
    const root = q('explain-dashboard');
    expect(root.hasAttribute('data-busy')).toBe(false);
    expect(q('explain-state').textContent).toBe('ready');
    expect(root.querySelector<HTMLElement>('.dltoolkit-result')!.hidden).toBe(false);
    expect(q('explain-overlay').querySelector('img')!.getAttribute('src')).toBe(PNG(11));
    expect(q('explain-input').querySelector('img')!.getAttribute('src')).toBe(PNG(10));
    expect(q('explain-heatmap').querySelector('img')!.getAttribute('src')).toBe(PNG(12));
    expect(q('explain-overlay').textContent).toContain('saliency + SmoothGrad');
    const rows = [...q('explain-top').querySelectorAll<HTMLElement>('.dltoolkit-top-row')];
    expect(rows.map((r) => r.dataset.class)).toEqual(['3', '5', '8']);
    expect(rows.map((r) => r.querySelector('.dltoolkit-top-value')!.textContent)).toEqual([
      '90 %',
      '6.0 %',
      '0.4 %',
    ]);
    expect(rows[0].querySelector<HTMLElement>('.dltoolkit-top-fill')!.style.width).toBe('90%');
    expect(rows[0].classList.contains('dltoolkit-marked')).toBe(true); // the class explained
    expect(q('explain-caption').textContent).toBe(
      'saliency of class 3 (predicted) for sample 2 (label 5) · 12 ms',
    );
    expect(q('dashboard-message').hidden).toBe(true);
    // a failure: no result, the message until dismissed
    model.set('message', { text: 'grad_cam on sample 0: no Conv2d', level: 'error', at: 1 });
    model.set('result', {});
    const message = q('dashboard-message');
    expect(message.hidden).toBe(false);
    expect(message.dataset.level).toBe('error');
    expect(message.textContent).toContain('no Conv2d');
    expect(q('explain-state').textContent).toBe('failed');
    expect(root.querySelector<HTMLElement>('.dltoolkit-result')!.hidden).toBe(true);
    message.querySelector('button')!.click();
    expect(message.hidden).toBe(true);
    cleanup();
  });
});

describe('attack dashboard', () => {
  const initial = (): Record<string, unknown> => ({
    ...common(),
    attack_name: 'pgd',
    eps: 0.1,
    attacks: ['fgsm', 'pgd', 'cw', 'deepfool'],
    eps_attacks: ['fgsm', 'pgd'],
  });
  const CURVE = [0, 0.05, 0.1, 0.2, 0.3].map((eps, i) => ({ eps, accuracy: 1 - 0.2 * i }));
  const result = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    index: 2,
    label: 3,
    attack: 'pgd',
    eps: 0.1,
    clean: TOP,
    adversarial: [{ class: '8', index: 8, probability: 0.7 }, ...TOP.slice(0, 2)],
    linf: 0.1,
    images: { original: PNG(20), adversarial: PNG(21), perturbation: PNG(22) },
    curve: CURVE,
    curve_samples: 64,
    seconds: 0.5,
    ...over,
  });

  it('sends the attack and eps, and disables eps for minimum-norm attacks', () => {
    const [model, cleanup] = mount(renderAttack, initial());
    const attack = q<HTMLSelectElement>('attack-name');
    const eps = q<HTMLInputElement>('attack-eps');
    expect([...attack.options].map((o) => o.value)).toEqual(['fgsm', 'pgd', 'cw', 'deepfool']);
    expect(attack.value).toBe('pgd');
    expect([eps.type, eps.value, eps.disabled]).toEqual(['range', '0.1', false]);
    expect(q('attack-eps-value').textContent).toBe('0.1');
    // dragging shows the value; releasing sends it
    eps.value = '0.25';
    eps.dispatchEvent(new Event('input'));
    expect(q('attack-eps-value').textContent).toBe('0.25');
    expect(model.saved).toBe(0);
    eps.dispatchEvent(new Event('change'));
    expect(model.get('eps')).toBe(0.25);
    expect(model.saved).toBe(1);
    change(attack, 'cw');
    expect(model.get('attack_name')).toBe('cw');
    expect(eps.disabled).toBe(true);
    expect(q('attack-eps-value').textContent).toBe('—');
    q('sample-1').click();
    expect(model.get('index')).toBe(1);
    q('attack-run').click();
    expect(model.sent).toEqual([{ action: 'run' }]);
    // an eps beyond the slider's range, set in Python, widens it
    model.set('attack_name', 'fgsm');
    model.set('eps', 0.8);
    expect([eps.max, eps.value, eps.disabled]).toEqual(['0.8', '0.8', false]);
    cleanup();
    expect(model.listeners()).toBe(0);
    expect(stage.host.children).toHaveLength(0);
  });

  it('shows the three images, predictions, ‖δ‖∞ and the curve', async () => {
    const [model, cleanup] = mount(renderAttack, initial());
    model.set('result', result());
    model.set('busy', false);
    expect(q('attack-original').querySelector('img')!.getAttribute('src')).toBe(PNG(20));
    expect(q('attack-adversarial').querySelector('img')!.getAttribute('src')).toBe(PNG(21));
    expect(q('attack-perturbation').querySelector('img')!.getAttribute('src')).toBe(PNG(22));
    expect(q('attack-original').textContent).toContain('label 3 · 3 (90 %)');
    expect(q('attack-adversarial').textContent).toContain('8 (70 %)');
    expect(q('attack-adversarial').classList.contains('dltoolkit-fooled')).toBe(true);
    expect(q('attack-linf').textContent).toBe('‖δ‖∞ = 0.1');
    expect(q('attack-adversarial-top').querySelectorAll('.dltoolkit-top-row')).toHaveLength(3);
    const curve = q('attack-curve');
    expect(curve.hidden).toBe(false);
    expect(q('attack-no-curve').hidden).toBe(true);
    expect(curve.textContent).toContain('first 64 test images');
    await nextFrame();
    const chart = curve.querySelector<HTMLElement>('.dltoolkit-chart[data-points]')!;
    expect(chart.dataset.points).toBe('6'); // 5 eps, and the chosen one marked
    // a minimum-norm attack: no curve; the chart stays for the next eps-bounded one
    model.set('result', result({ attack: 'cw', eps: null, curve: null, linf: 0.31 }));
    expect(curve.hidden).toBe(true);
    expect(q('attack-no-curve').hidden).toBe(false);
    expect(q('attack-no-curve').textContent).toBe('cw takes no ε: no robustness curve.');
    model.set('result', result({ eps: 0.2, curve: CURVE.slice(0, 4) }));
    await nextFrame();
    expect(chart.dataset.points).toBe('5');
    expect(curve.querySelectorAll('.dltoolkit-chart')).toHaveLength(1);
    model.set('result', result({ adversarial: TOP }));
    expect(q('attack-adversarial').classList.contains('dltoolkit-fooled')).toBe(false);
    cleanup();
    expect(document.querySelectorAll('.dltoolkit-chart')).toHaveLength(0);
  });
});
