/**
 * The runs as the server lists them, polled: every second while a run is queued or running, every
 * five seconds otherwise. The sidebar's cards and the open run details read it; nothing is kept here
 * that the server does not have, so a page reload loses nothing.
 */
import type { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, isActive, listRuns, RunStatus } from './client';

export const ACTIVE_POLL_MS = 1000;
export const IDLE_POLL_MS = 5000;

export class RunsModel {
  constructor(readonly settings?: ServerConnection.ISettings) {}

  /** every run's status, newest first */
  get runs(): readonly RunStatus[] {
    return this._runs;
  }

  /** the last poll's error (`null` once a poll succeeds) */
  get error(): ApiError | null {
    return this._error;
  }

  /** whether a first answer came */
  get loaded(): boolean {
    return this._loaded;
  }

  /** counts the polls answered: cards fetch new metric rows when it moves */
  get tick(): number {
    return this._tick;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  find(runId: string): RunStatus | undefined {
    return this._runs.find((r) => r.run_id === runId);
  }

  /** Start polling (idempotent). */
  start(): void {
    if (!this._started) {
      this._started = true;
      void this.refresh();
    }
  }

  /** Poll now (after a launch, a stop, a delete), then go on at the usual pace. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._inFlight) {
      this._again = true;
      return this._inFlight;
    }
    clearTimeout(this._timer);
    this._inFlight = this._poll();
    try {
      await this._inFlight;
    } finally {
      this._inFlight = undefined;
    }
    if (this._again) {
      this._again = false;
      return this.refresh();
    }
  }

  dispose(): void {
    if (!this._disposed) {
      this._disposed = true;
      clearTimeout(this._timer);
      Signal.clearData(this);
    }
  }

  private async _poll(): Promise<void> {
    let delay = IDLE_POLL_MS;
    try {
      this._runs = await listRuns(this.settings);
      this._error = null;
      this._loaded = true;
      this._tick++;
      if (this._runs.some((r) => isActive(r.state))) {
        delay = ACTIVE_POLL_MS;
      }
    } catch (error) {
      this._error = error instanceof ApiError ? error : new ApiError(0, String(error));
    }
    if (this._disposed) {
      return;
    }
    this._changed.emit();
    this._timer = setTimeout(() => void this.refresh(), delay);
  }

  private _runs: RunStatus[] = [];
  private _error: ApiError | null = null;
  private _loaded = false;
  private _tick = 0;
  private _started = false;
  private _disposed = false;
  private _again = false;
  private _inFlight: Promise<void> | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _changed = new Signal<this, void>(this);
}
