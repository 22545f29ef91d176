// Front end of dltoolkit.dashboards.AttackDashboard (an anywidget ES module): a grid of test images; an
// attack and its L∞ budget eps; the original, adversarial and perturbation images with the model's
// predictions and ‖δ‖∞; the robustness curve (accuracy against eps) drawn by the shared StreamChart.
//
// The choices are traits (index, attack_name, eps): setting one asks the kernel for a new result, which
// comes back as the `result` trait (ModelInspector.attack's dict); `busy` says one is being computed,
// `message` holds a failure. The eps slider sends its value when released. Attacks not in
// `eps_attacks` (CW, DeepFool: minimum-norm L2) take no eps: the slider is disabled, there is no curve.
//
// Hooks for browser tests: root `[data-testid="attack-dashboard"]` (data-busy while computing),
// `sample-<i>`, `sample-index`, `attack-name`, `attack-eps` (a range input), `attack-eps-value`,
// `attack-run`, `attack-original`, `attack-adversarial`, `attack-perturbation` (figures with an
// <img>), `attack-linf`, `attack-clean-top`, `attack-adversarial-top`, `attack-curve` (holds the
// chart, `.dltoolkit-chart[data-points]`), `attack-no-curve`, `dashboard-message`.
import 'uplot/dist/uPlot.min.css';
import './chart.css';
import './dashboards.css';

import type { RenderProps } from '@anywidget/types';

import { StreamChart } from './chart';
import {
  Figure,
  InspectModel,
  InspectShell,
  TopClasses,
  choose,
  className,
  formatSeconds,
  percent,
} from './inspect_ui';
import type { TopClass } from './inspect_ui';
import { MetricTable } from './metrics';
import { el, formatNumber, setText } from './ui';

interface CurvePoint {
  eps: number;
  accuracy: number;
}

interface AttackResult {
  index: number;
  label: number;
  attack: string;
  eps: number | null;
  clean: TopClass[];
  adversarial: TopClass[];
  linf: number;
  images: { original: string; adversarial: string; perturbation: string };
  curve: CurvePoint[] | null;
  curve_samples?: number;
  seconds: number;
}

interface AttackModel extends InspectModel {
  attack_name: string;
  eps: number;
  attacks: string[];
  eps_attacks: string[];
  result: Partial<AttackResult>;
}

/** The slider's range (pixel units); a larger eps set from Python widens it. */
const EPS_MAX = 0.5;
const EPS_STEP = 0.01;
/** The curve's columns: accuracy at every eps, and the point of the eps chosen. */
const ACCURACY = 'accuracy';
const CHOSEN = 'at this eps';

function prediction(classes: string[], top: TopClass[] | undefined): string {
  const best = top?.[0];
  return best ? `${className(classes, best.index)} (${percent(best.probability)})` : '—';
}

function render({ model, el: host }: RenderProps<AttackModel>): () => void {
  const attack = el('select', {
    class: 'dltoolkit-input',
    'data-testid': 'attack-name',
    'aria-label': 'attack',
  });
  const eps = el('input', {
    type: 'range',
    min: '0',
    max: String(EPS_MAX),
    step: String(EPS_STEP),
    class: 'dltoolkit-slider',
    'data-testid': 'attack-eps',
    'aria-label': 'eps',
  });
  const epsValue = el('span', { class: 'dltoolkit-eps-value', 'data-testid': 'attack-eps-value' });
  const epsLabel = el('label', { class: 'dltoolkit-eps' }, 'ε ', eps, epsValue);
  const controls = el(
    'div',
    { class: 'dltoolkit-controls' },
    el('label', {}, 'attack ', attack),
    epsLabel,
  );
  attack.addEventListener('change', () => choose(model, 'attack_name', attack.value));
  // dragging shows the value; releasing (change) asks for the attack
  eps.addEventListener('input', () => setText(epsValue, formatNumber(Number(eps.value))));
  eps.addEventListener('change', () => choose(model, 'eps', Number(eps.value)));

  const original = new Figure('original', 'attack-original');
  const adversarial = new Figure('adversarial', 'attack-adversarial');
  const perturbation = new Figure('perturbation', 'attack-perturbation');
  const linf = el('span', { 'data-testid': 'attack-linf' });
  const cleanTop = new TopClasses('attack-clean-top', 'before');
  const adversarialTop = new TopClasses('attack-adversarial-top', 'after');
  const caption = el('div', { class: 'dltoolkit-caption' });
  const curveCell = el('div', { class: 'dltoolkit-curve', 'data-testid': 'attack-curve' });
  const noCurve = el('div', { class: 'dltoolkit-muted', 'data-testid': 'attack-no-curve' });
  const table = new MetricTable();
  const chart = new StreamChart(curveCell, {
    metrics: [ACCURACY, CHOSEN],
    title: 'accuracy vs ε',
    height: 180,
    xLabel: 'ε (L∞ budget)',
  });
  const curveNote = el('div', { class: 'dltoolkit-muted' });
  curveCell.append(curveNote);
  const output = el(
    'div',
    { class: 'dltoolkit-result' },
    el(
      'div',
      { class: 'dltoolkit-figures' },
      original.element,
      adversarial.element,
      perturbation.element,
      el('div', { class: 'dltoolkit-tops' }, cleanTop.element, adversarialTop.element),
    ),
    caption,
    curveCell,
    noCurve,
  );
  const shell = new InspectShell(model, 'attack', controls, output);
  host.appendChild(shell.root);

  let optionsKey = '';
  function onOptions(): void {
    const attacks = model.get('attacks') ?? [];
    const key = attacks.join(',');
    if (key !== optionsKey) {
      optionsKey = key;
      attack.replaceChildren(...attacks.map((a) => el('option', { value: a }, a)));
    }
    onChoices();
  }

  function onChoices(): void {
    const name = model.get('attack_name');
    attack.value = name;
    const bounded = (model.get('eps_attacks') ?? []).includes(name);
    const value = model.get('eps');
    eps.max = String(Math.max(EPS_MAX, value));
    eps.value = String(value);
    eps.disabled = !bounded;
    epsLabel.classList.toggle('dltoolkit-disabled', !bounded);
    epsLabel.title = bounded
      ? 'L∞ budget in pixel units ([0, 1] images)'
      : `${name} finds the smallest L2 perturbation: it takes no ε`;
    setText(epsValue, bounded ? formatNumber(value) : '—');
    shell.showSamples();
  }

  function onResult(): void {
    const r = model.get('result') ?? {};
    if (
      !shell.showState('Attack', r.images !== undefined, 'No attack result: see above.') ||
      !r.images
    ) {
      return;
    }
    const classes = model.get('classes') ?? [];
    const before = r.clean?.[0]?.index;
    const after = r.adversarial?.[0]?.index;
    original.set(
      r.images.original,
      `label ${className(classes, r.label)} · ${prediction(classes, r.clean)}`,
    );
    adversarial.set(r.images.adversarial, prediction(classes, r.adversarial));
    adversarial.element.classList.toggle('dltoolkit-fooled', before !== after);
    perturbation.set(r.images.perturbation, '');
    setText(linf, `‖δ‖∞ = ${formatNumber(r.linf)}`);
    perturbation.caption.replaceChildren(linf);
    const marks: { [index: number]: string } = r.label != null ? { [r.label]: 'label' } : {};
    cleanTop.update(r.clean ?? [], marks);
    adversarialTop.update(r.adversarial ?? [], marks);
    const budget = r.eps == null ? 'minimum-norm L2' : `ε = ${formatNumber(r.eps)}`;
    const verdict = before === after ? 'prediction unchanged' : 'prediction changed';
    setText(
      caption,
      `${r.attack} (${budget}) on sample ${r.index}: ${verdict} · ${formatSeconds(r.seconds)}`,
    );
    const curve = r.curve ?? null;
    curveCell.hidden = curve === null;
    noCurve.hidden = curve !== null;
    setText(noCurve, `${r.attack} takes no ε: no robustness curve.`);
    table.clear();
    if (curve !== null) {
      table.append(curve.map((p) => ({ step: p.eps, [ACCURACY]: p.accuracy })));
      setText(
        curveNote,
        `accuracy under ${r.attack} on the first ${r.curve_samples ?? '?'} test images`,
      );
      const chosen = curve.find((p) => p.eps === r.eps);
      if (chosen) {
        table.append([{ step: chosen.eps, [CHOSEN]: chosen.accuracy }]);
      }
      chart.update(table);
    }
  }

  const stop = shell.listen([
    ['change:attacks', onOptions],
    ['change:eps_attacks', onChoices],
    ['change:classes', onChoices],
    ['change:samples', onChoices],
    ['change:total', onChoices],
    ['change:index', onChoices],
    ['change:attack_name', onChoices],
    ['change:eps', onChoices],
    ['change:result', onResult],
    ['change:busy', onResult],
    ['change:message', onResult],
    ['change:title', onResult],
  ]);
  onOptions();
  onResult();
  return () => {
    stop();
    chart.dispose();
  };
}

export default { render };
