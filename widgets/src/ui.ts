// Small DOM helpers shared by the two dashboards (no framework: a few elements updated in place).
import { formatDuration } from './metrics';

type Attrs = { [name: string]: string | undefined };

/** `el('button', { class: 'x', 'data-testid': 'y' }, 'Stop')` */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      node.setAttribute(name, value);
    }
  }
  node.append(...children);
  return node;
}

/** Set text only when it changed (no needless layout work on every update). */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

export interface Progress {
  epoch?: number | null;
  max_epochs?: number | null;
  step?: number | null;
  total_steps?: number | null;
  eta?: number | null;
  eta_seconds?: number | null;
  elapsed?: number | null;
}

/** A progress bar with a line of text: `epoch 3/10 · step 60/230 · ETA 12 s`. */
export class ProgressView {
  readonly element: HTMLElement;
  private readonly _fill: HTMLElement;
  private readonly _text: HTMLElement;

  constructor() {
    this._fill = el('div', { class: 'dltoolkit-bar-fill' });
    this._text = el('span', { class: 'dltoolkit-progress-text' });
    this.element = el(
      'div',
      { class: 'dltoolkit-progress' },
      el('div', { class: 'dltoolkit-bar', role: 'progressbar' }, this._fill),
      this._text,
    );
  }

  update(p: Progress, done: boolean, extra: string[] = []): void {
    const step = p.step ?? 0;
    const total = p.total_steps ?? null;
    const fraction = done ? 1 : total ? Math.min(1, step / total) : 0;
    this._fill.style.width = `${(100 * fraction).toFixed(1)}%`;
    this.element.classList.toggle('dltoolkit-progress-unknown', !done && !total);
    const parts: string[] = [];
    if (p.epoch != null) {
      const max = p.max_epochs ?? null;
      const shown = max != null ? Math.min(p.epoch + 1, max) : p.epoch + 1;
      parts.push(`epoch ${shown}${max != null ? `/${max}` : ''}`);
    }
    if (p.step != null) {
      parts.push(`step ${step}${total != null ? `/${total}` : ''}`);
    }
    if (p.elapsed != null) {
      parts.push(`${formatDuration(p.elapsed)} elapsed`);
    }
    const eta = p.eta ?? p.eta_seconds;
    if (!done && eta != null) {
      parts.push(`ETA ${formatDuration(eta)}`);
    }
    setText(this._text, [...parts, ...extra].join(' · '));
  }
}

/** A compact number: 4 significant digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) {
    return '—';
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) {
    return value.toExponential(2);
  }
  return String(Number(value.toPrecision(4)));
}

/** The last non-null value of a series. */
export function lastValue(y: (number | null)[]): number | null {
  for (let i = y.length - 1; i >= 0; i--) {
    const v = y[i];
    if (v != null) {
      return v;
    }
  }
  return null;
}
