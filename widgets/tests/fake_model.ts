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
