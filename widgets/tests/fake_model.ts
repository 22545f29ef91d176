// A stand-in for anywidget's model in the front ends' unit tests (no kernel, no widget manager).
type Handler = (...args: unknown[]) => void;

/** Enough of anywidget's AnyModel: traits, change events, custom messages, what was sent. */
export class FakeModel {
  sent: unknown[] = [];
  saved = 0;
  private handlers = new Map<string, Set<Handler>>();
  constructor(private state: Record<string, unknown>) {}
  get(key: string): unknown {
    return this.state[key];
  }
  set(key: string, value: unknown): void {
    this.state[key] = value;
    this.emit(`change:${key}`);
  }
  save_changes(): void {
    this.saved++;
  }
  send(content: unknown): void {
    this.sent.push(content);
  }
  on(event: string, handler: Handler): void {
    if (!this.handlers.has(event)) {
      this.handlers.set(event, new Set());
    }
    this.handlers.get(event)!.add(handler);
  }
  off(event: string, handler: Handler): void {
    this.handlers.get(event)?.delete(handler);
  }
  emit(event: string, ...args: unknown[]): void {
    this.handlers.get(event)?.forEach((h) => h(...args));
  }
  listeners(): number {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }
}

/** A front end's `render`, as anywidget calls it. */
export type Render = (props: { model: FakeModel; el: HTMLElement }) => () => void;

/** Where a test renders a front end: a fresh host element in the document per `mount`, which
 * `remove` (in `afterEach`) takes out again. */
export class Stage {
  host!: HTMLElement;

  /** Render `render` with a model holding `state`: the model and the front end's clean-up. */
  mount(render: Render, state: Record<string, unknown>): [FakeModel, () => void] {
    this.host = document.createElement('div');
    document.body.appendChild(this.host);
    const model = new FakeModel(state);
    return [model, render({ model, el: this.host })];
  }

  remove(): void {
    this.host?.remove();
  }
}

/** After the next animation frame (and what it scheduled). */
export const nextFrame = (): Promise<void> =>
  new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
