// Front end of dltoolkit.dashboards.ExplainDashboard (an anywidget ES module): a grid of test images;
// a method, a target class and SmoothGrad; the chosen image, its attribution heatmap and overlay, and
// the top classes with their probabilities.
//
// The choices are traits (index, method, target, smoothgrad): setting one asks the kernel for a new
// result, which comes back as the `result` trait (ModelInspector.explain's dict: images as PNG data
// URLs); `busy` says one is being computed, `message` holds a failure. Run sends {action: 'run'}.
//
// Hooks for browser tests: root `[data-testid="explain-dashboard"]` (data-busy while computing),
// `sample-<i>`, `sample-index`, `explain-method`, `explain-target`, `explain-smoothgrad`,
// `explain-run`, `explain-input`, `explain-overlay`, `explain-heatmap` (figures with an <img>),
// `explain-caption`, `explain-top` (one `.dltoolkit-top-row` per class), `dashboard-message`.
import './dashboards.css';

import type { RenderProps } from '@anywidget/types';

import {
  Figure,
  InspectModel,
  InspectShell,
  TopClasses,
  choose,
  className,
  formatSeconds,
} from './inspect_ui';
import type { TopClass } from './inspect_ui';
import { el, setText } from './ui';

interface ExplainResult {
  index: number;
  label: number;
  method: string;
  target: number;
  smoothgrad?: boolean;
  top: TopClass[];
  image: string;
  overlay: string;
  heatmap: string;
  seconds: number;
}

interface ExplainModel extends InspectModel {
  method: string;
  target: number | null;
  smoothgrad: boolean;
  methods: string[];
  result: Partial<ExplainResult>;
}

const PREDICTED = 'predicted';

function render({ model, el: host }: RenderProps<ExplainModel>): () => void {
  const method = el('select', {
    class: 'dltoolkit-input',
    'data-testid': 'explain-method',
    'aria-label': 'attribution method',
  });
  const target = el('select', {
    class: 'dltoolkit-input',
    'data-testid': 'explain-target',
    'aria-label': 'class explained',
  });
  const smoothgrad = el('input', { type: 'checkbox', 'data-testid': 'explain-smoothgrad' });
  const controls = el(
    'div',
    { class: 'dltoolkit-controls' },
    el('label', {}, 'method ', method),
    el('label', {}, 'class ', target),
    el(
      'label',
      { title: 'Average over noisy copies of the input (Smilkov et al. 2017)' },
      smoothgrad,
      ' SmoothGrad',
    ),
  );
  method.addEventListener('change', () => choose(model, 'method', method.value));
  target.addEventListener('change', () =>
    choose(model, 'target', target.value === PREDICTED ? null : Number(target.value)),
  );
  smoothgrad.addEventListener('change', () => choose(model, 'smoothgrad', smoothgrad.checked));

  const input = new Figure('input', 'explain-input');
  const overlay = new Figure('overlay', 'explain-overlay');
  const heatmap = new Figure('attribution', 'explain-heatmap');
  const top = new TopClasses('explain-top', 'top classes');
  const caption = el('div', { class: 'dltoolkit-caption', 'data-testid': 'explain-caption' });
  const output = el(
    'div',
    { class: 'dltoolkit-result' },
    el(
      'div',
      { class: 'dltoolkit-figures' },
      input.element,
      overlay.element,
      heatmap.element,
      top.element,
    ),
    caption,
  );
  const shell = new InspectShell(model, 'explain', controls, output);
  host.appendChild(shell.root);

  let optionsKey = '';
  function onOptions(): void {
    const methods = model.get('methods') ?? [];
    const classes = model.get('classes') ?? [];
    const key = `${methods.join(',')}|${classes.join(',')}`;
    if (key !== optionsKey) {
      optionsKey = key;
      method.replaceChildren(...methods.map((m) => el('option', { value: m }, m)));
      target.replaceChildren(
        el('option', { value: PREDICTED }, 'predicted'),
        ...classes.map((c, i) => el('option', { value: String(i) }, c)),
      );
    }
    onChoices();
  }

  function onChoices(): void {
    method.value = model.get('method');
    const t = model.get('target');
    target.value = t == null ? PREDICTED : String(t);
    smoothgrad.checked = model.get('smoothgrad');
    shell.showSamples();
  }

  function onResult(): void {
    const r = model.get('result') ?? {};
    if (!shell.showState('Explain', r.overlay !== undefined, 'No explanation: see above.')) {
      return;
    }
    const classes = model.get('classes') ?? [];
    const label = className(classes, r.label);
    const explained = className(classes, r.target);
    const predicted = r.top?.[0]?.index;
    input.set(r.image, `#${r.index} · label ${label}`);
    overlay.set(r.overlay, `${r.method}${r.smoothgrad ? ' + SmoothGrad' : ''}`);
    heatmap.set(r.heatmap, `for class ${explained}`);
    const marks: { [index: number]: string } = {};
    if (r.label != null) {
      marks[r.label] = 'label';
    }
    if (r.target != null) {
      marks[r.target] = r.target === r.label ? 'label, explained' : 'explained';
    }
    top.update(r.top ?? [], marks);
    const who = r.target === predicted ? `${explained} (predicted)` : explained;
    setText(
      caption,
      `${r.method} of class ${who} for sample ${r.index} (label ${label}) · ` +
        formatSeconds(r.seconds),
    );
  }

  const stop = shell.listen([
    ['change:methods', onOptions],
    ['change:classes', onOptions],
    ['change:samples', onChoices],
    ['change:total', onChoices],
    ['change:index', onChoices],
    ['change:method', onChoices],
    ['change:target', onChoices],
    ['change:smoothgrad', onChoices],
    ['change:result', onResult],
    ['change:busy', onResult],
    ['change:message', onResult],
    ['change:title', onResult],
  ]);
  onOptions();
  onResult();
  return stop;
}

export default { render };
