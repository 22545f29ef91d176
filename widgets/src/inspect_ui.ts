// What the two inspection dashboards (ExplainDashboard, AttackDashboard) share: the traits both have,
// the sample grid, the header with its state badge and Run button, the message bar, image figures
// and the top-classes bars. The kernel's side is dltoolkit/dashboards/inspect.py.
import type { AnyModel } from '@anywidget/types';

import { el, setText } from './ui';

/** A test image of the grid (a PNG data URL) with its label and the model's prediction. */
export interface Sample {
  index: number;
  label: number;
  predicted: number;
  image: string;
}

/** One of the model's top classes. */
export interface TopClass {
  class: string;
  index: number;
  probability: number;
}

export interface Message {
  text?: string;
  level?: string;
  at?: number;
}

/** The traits of both dashboards. */
export interface InspectModel {
  title: string;
  classes: string[];
  total: number;
  samples: Sample[];
  index: number;
  busy: boolean;
  message: Message;
}

/** Set a trait from a control and send it to the kernel (which answers with a new result). */
export function choose<T extends InspectModel, K extends keyof T & string>(
  model: AnyModel<T>,
  key: K,
  value: T[K],
): void {
  model.set(key, value);
  model.save_changes();
}

/** A percentage: `97 %`, `0.4 %`. */
export function percent(p: number): string {
  const v = 100 * p;
  return `${v >= 9.95 || v === 0 ? v.toFixed(0) : v.toFixed(1)} %`;
}

/** How long a request took: `12 ms`, `1.4 s`. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) {
    return '—';
  }
  return seconds < 1 ? `${Math.max(1, Math.round(1000 * seconds))} ms` : `${seconds.toFixed(1)} s`;
}

/** The grid of test images to pick from, and an index box for the ones beyond it. */
export class SampleGrid {
  readonly element: HTMLElement;
  private readonly _grid: HTMLElement;
  private readonly _input: HTMLInputElement;
  private readonly _total: HTMLElement;
  private _key = '';

  constructor(private readonly _onSelect: (index: number) => void) {
    this._grid = el('div', { class: 'dltoolkit-sample-grid', role: 'listbox' });
    this._input = el('input', {
      type: 'number',
      min: '0',
      step: '1',
      class: 'dltoolkit-input dltoolkit-index-input',
      'data-testid': 'sample-index',
      'aria-label': 'sample index',
    });
    this._total = el('span', { class: 'dltoolkit-muted' });
    this._input.addEventListener('change', () => {
      const value = Number(this._input.value);
      if (this._input.value !== '' && Number.isInteger(value)) {
        this._onSelect(value);
      }
    });
    this.element = el(
      'div',
      { class: 'dltoolkit-samples' },
      this._grid,
      el('label', { class: 'dltoolkit-index-label' }, 'sample ', this._input, ' ', this._total),
    );
  }

  update(samples: Sample[], classes: string[], total: number, selected: number): void {
    const key = samples.map((s) => `${s.index}:${s.predicted}`).join(',');
    if (key !== this._key) {
      this._key = key;
      this._grid.replaceChildren(
        ...samples.map((s) => {
          const label = classes[s.label] ?? String(s.label);
          const predicted = classes[s.predicted] ?? String(s.predicted);
          const miss = s.label !== s.predicted;
          const button = el(
            'button',
            {
              class: `dltoolkit-sample${miss ? ' dltoolkit-miss' : ''}`,
              'data-testid': `sample-${s.index}`,
              'data-index': String(s.index),
              role: 'option',
              title: `#${s.index} · label ${label} · predicted ${predicted}`,
            },
            el('img', { class: 'dltoolkit-pixelated', src: s.image, alt: `sample ${s.index}` }),
            el('span', { class: 'dltoolkit-sample-label' }, miss ? `${label}→${predicted}` : label),
          );
          button.addEventListener('click', () => this._onSelect(s.index));
          return button;
        }),
      );
    }
    for (const button of this._grid.children) {
      const chosen = (button as HTMLElement).dataset.index === String(selected);
      button.classList.toggle('dltoolkit-selected', chosen);
      button.setAttribute('aria-selected', String(chosen));
    }
    this._input.max = String(Math.max(0, total - 1));
    if (document.activeElement !== this._input) {
      this._input.value = String(selected);
    }
    setText(this._total, `of ${total}`);
  }
}

/** The header: title, a state badge (`running`, `ready`, `error`) and the Run button. */
export class Header {
  readonly element: HTMLElement;
  readonly run: HTMLButtonElement;
  private readonly _title: HTMLElement;
  private readonly _state: HTMLElement;

  constructor(testid: string, onRun: () => void) {
    this._title = el('span', { class: 'dltoolkit-title' });
    this._state = el('span', { class: 'dltoolkit-badge', 'data-testid': `${testid}-state` });
    this.run = el(
      'button',
      { class: 'dltoolkit-button', 'data-testid': `${testid}-run`, title: 'Compute again' },
      'Run',
    );
    this.run.addEventListener('click', onRun);
    this.element = el(
      'div',
      { class: 'dltoolkit-header' },
      this._title,
      this._state,
      el('span', { class: 'dltoolkit-spacer' }),
      this.run,
    );
  }

  update(title: string, busy: boolean, failed: boolean): void {
    setText(this._title, title);
    const state = busy ? 'running' : failed ? 'failed' : 'ready';
    setText(this._state, state);
    this._state.setAttribute('data-state', state);
  }
}

/** The last error (or note), until dismissed or replaced. */
export class MessageBar {
  readonly element: HTMLElement;
  private readonly _text: HTMLElement;

  constructor() {
    this._text = el('span', {});
    const dismiss = el(
      'button',
      { class: 'dltoolkit-button dltoolkit-dismiss', title: 'Dismiss' },
      '×',
    );
    this.element = el(
      'div',
      { class: 'dltoolkit-message', 'data-testid': 'dashboard-message', role: 'alert' },
      this._text,
      dismiss,
    );
    this.element.hidden = true;
    dismiss.addEventListener('click', () => {
      this.element.hidden = true;
    });
  }

  update(message: Message): void {
    this.element.hidden = !message.text;
    this.element.setAttribute('data-level', message.level ?? 'info');
    setText(this._text, message.text ?? '');
  }
}

/** An image (scaled up, pixels kept sharp) with a caption under it. */
export class Figure {
  readonly element: HTMLElement;
  readonly caption: HTMLElement;
  private readonly _img: HTMLImageElement;

  constructor(title: string, testid: string) {
    this._img = el('img', { class: 'dltoolkit-pixelated dltoolkit-figure-image', alt: title });
    this.caption = el('figcaption', {});
    this.element = el(
      'figure',
      { class: 'dltoolkit-figure', 'data-testid': testid },
      el('div', { class: 'dltoolkit-figure-title' }, title),
      this._img,
      this.caption,
    );
  }

  set(src: string | undefined, caption: string): void {
    if (src && this._img.getAttribute('src') !== src) {
      this._img.src = src;
    }
    this._img.hidden = !src;
    setText(this.caption, caption);
  }
}

/** Classes with their probabilities as bars; `mark` highlights some (the target, the true label). */
export class TopClasses {
  readonly element: HTMLElement;

  constructor(testid: string, title: string) {
    this.element = el('div', { class: 'dltoolkit-top', 'data-testid': testid });
    this.element.dataset.title = title;
  }

  update(top: TopClass[], mark: { [index: number]: string } = {}): void {
    const rows = top.map((c) => {
      const fill = el('div', { class: 'dltoolkit-top-fill' });
      fill.style.width = `${(100 * Math.max(0, Math.min(1, c.probability))).toFixed(1)}%`;
      const row = el(
        'div',
        { class: 'dltoolkit-top-row', 'data-class': String(c.index) },
        el('span', { class: 'dltoolkit-top-name' }, c.class),
        el('div', { class: 'dltoolkit-top-bar' }, fill),
        el('span', { class: 'dltoolkit-top-value' }, percent(c.probability)),
        el('span', { class: 'dltoolkit-top-mark' }, mark[c.index] ?? ''),
      );
      row.classList.toggle('dltoolkit-marked', c.index in mark);
      return row;
    });
    this.element.replaceChildren(
      el('div', { class: 'dltoolkit-top-title' }, this.element.dataset.title ?? ''),
      ...rows,
    );
  }
}

/** The class name of class `index`. */
export function className(classes: string[], index: number | null | undefined): string {
  return index == null ? '—' : (classes[index] ?? String(index));
}

/**
 * The frame both inspection dashboards draw in: header (title, state, Run), their controls, the message
 * bar, the sample grid beside the result column, where the output shows once there is a result and a
 * waiting note otherwise. A dashboard builds its controls and output, then calls `showState` and
 * `showSamples` from its trait handlers, and `listen` once.
 */
export class InspectShell<T extends InspectModel> {
  readonly root: HTMLElement;
  private readonly _header: Header;
  private readonly _message = new MessageBar();
  private readonly _grid: SampleGrid;
  private readonly _placeholder = el('div', { class: 'dltoolkit-waiting' });

  /** `kind` names the test ids (`<kind>-dashboard`, `<kind>-run`, `<kind>-state`). */
  constructor(
    private readonly _model: AnyModel<T>,
    kind: string,
    controls: HTMLElement,
    private readonly _output: HTMLElement,
  ) {
    this._header = new Header(kind, () => _model.send({ action: 'run' }));
    this._grid = new SampleGrid((index) => choose(_model, 'index', index as T['index']));
    this.root = el(
      'div',
      { class: 'dltoolkit-inspect dltoolkit-dashboard', 'data-testid': `${kind}-dashboard` },
      this._header.element,
      controls,
      this._message.element,
      el(
        'div',
        { class: 'dltoolkit-inspect-body' },
        this._grid.element,
        el('div', { class: 'dltoolkit-result-column' }, this._placeholder, _output),
      ),
    );
  }

  /** Header, message and busy state from the traits; the output if `hasResult`, else the waiting note
   * (`noResult` once the request failed). Returns `hasResult`: whether to draw the result. */
  showState(defaultTitle: string, hasResult: boolean, noResult: string): boolean {
    const busy = this._model.get('busy');
    const message = this._model.get('message') ?? {};
    const failed = message.level === 'error';
    this._header.update(this._model.get('title') || defaultTitle, busy, failed);
    this._message.update(message);
    this.root.toggleAttribute('data-busy', busy);
    this._output.hidden = !hasResult;
    this._placeholder.hidden = hasResult;
    setText(this._placeholder, busy ? 'Computing…' : failed ? noResult : '');
    return hasResult;
  }

  /** The sample grid from the traits (samples, classes, total, the chosen index). */
  showSamples(): void {
    const m = this._model;
    this._grid.update(
      m.get('samples') ?? [],
      m.get('classes') ?? [],
      m.get('total'),
      m.get('index'),
    );
  }

  /** Subscribe the dashboard's handlers (`change:<trait>` events); the returned function unsubscribes
   * them and removes the dashboard. */
  listen(handlers: [string, () => void][]): () => void {
    for (const [event, handler] of handlers) {
      this._model.on(event, handler);
    }
    return () => {
      for (const [event, handler] of handlers) {
        this._model.off(event as `change:${string}`, handler);
      }
      this.root.remove();
    };
  }
}
