/**
 * The main-area tab of `dltoolkit:inspect-run`: a run's Explain and Attack views (`inspect.tsx`),
 * one tab per run, switched between Explain and Attack in place.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import React from 'react';

import { parseRunId } from './format';
import { InspectTab, InspectView } from './inspect';
import { RunsModel } from './model';

export interface IRunInspectOptions {
  runId: string;
  model: RunsModel;
  settings?: ServerConnection.ISettings;
  tab: InspectTab;
}

export class RunInspectWidget extends ReactWidget {
  constructor(private readonly options: IRunInspectOptions) {
    super();
    this.addClass('dltoolkit-RunDetail');
    this.addClass('dltoolkit-Inspect');
    this._tab = options.tab;
    this.title.caption = `Explain and attack ${options.runId}`;
    this._label();
    // the run's state, for a view opened before the run finished (its samples are asked again)
    options.model.changed.connect(this._changed, this);
    options.model.start();
  }

  get runId(): string {
    return this.options.runId;
  }

  get tab(): InspectTab {
    return this._tab;
  }

  set tab(tab: InspectTab) {
    if (tab !== this._tab) {
      this._tab = tab;
      this._label();
      this.update();
    }
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.options.model.changed.disconnect(this._changed, this);
    }
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <InspectView
        runId={this.options.runId}
        settings={this.options.settings}
        tab={this._tab}
        onTab={(tab) => (this.tab = tab)}
        runState={this.options.model.find(this.options.runId)?.state}
      />
    );
  }

  private _changed(): void {
    const state = this.options.model.find(this.options.runId)?.state;
    if (state !== this._state) {
      this._state = state;
      this.update();
    }
  }

  private _label(): void {
    const parts = parseRunId(this.options.runId);
    const what = this._tab === 'explain' ? 'Explain' : 'Attack';
    this.title.label = parts
      ? `${what} · ${parts.model} · seed ${parts.seed}`
      : `${what} · ${this.options.runId}`;
  }

  private _tab: InspectTab;
  private _state: string | undefined;
}
