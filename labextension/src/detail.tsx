/**
 * A run in the main area: a chart of every logged metric group (live through the run's event stream
 * while it trains), its status and progress, its config and the command that reproduces it.
 */
import { Clipboard, ReactWidget } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import { formatDuration, groupMetrics, MetricTable } from '@dltoolkit/widgets';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { Chart } from './chart';
import { ApiError, getRun, isActive, RunDetail, RunStatus, Watcher, watchRun } from './client';
import { formatValue, parseRunId, progressOf } from './format';
import type { InspectTab } from './inspect';
import { RunsModel } from './model';
import { ProgressBar, StateBadge } from './sidebar';

export interface IRunDetailOptions {
  runId: string;
  model: RunsModel;
  settings?: ServerConnection.ISettings;
  /** open the run's Explain or Attack view (a tab of its own, beside this one) */
  inspectRun?: (runId: string, view: InspectTab) => void;
}

/** The content of a run's main-area tab (one per run). */
export class RunDetailWidget extends ReactWidget {
  constructor(private readonly options: IRunDetailOptions) {
    super();
    this.addClass('dltoolkit-RunDetail');
    const parts = parseRunId(options.runId);
    this.title.label = parts
      ? `${parts.model} · ${parts.data} · seed ${parts.seed}`
      : options.runId;
    this.title.caption = options.runId;
  }

  get runId(): string {
    return this.options.runId;
  }

  protected render(): JSX.Element {
    return <RunDetailView {...this.options} />;
  }
}

function RunDetailView(props: IRunDetailOptions): JSX.Element {
  const { runId, model, settings } = props;
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [status, setStatus] = useState<RunStatus | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const [table] = useState(() => new MetricTable());
  const [version, setVersion] = useState(0);
  const [copied, setCopied] = useState(false);
  const watcher = useRef<Watcher | null>(null);
  const next = useRef(0);
  const listed = useRef(false);

  const watch = useCallback(() => {
    watcher.current?.dispose();
    watcher.current = watchRun(
      runId,
      next.current,
      {
        status: (s) => {
          setStatus(s);
          setProblem(null);
        },
        metrics: (page) => {
          next.current = page.next;
          if (page.reset) {
            table.clear();
            setVersion((v) => v + 1);
          }
          if (page.rows.length) {
            table.append(page.rows);
            setVersion((v) => v + 1);
          }
        },
        error: (e) => {
          if (e.status === 404) {
            setGone(true);
          } else {
            setProblem(`the live stream dropped (${e.message}); reconnecting…`);
          }
        },
      },
      settings,
    );
  }, [runId, settings, table]);

  useEffect(() => {
    let cancelled = false;
    getRun(runId, settings)
      .then((d) => {
        if (!cancelled) {
          setDetail(d);
          setStatus((s) => s ?? d);
        }
      })
      .catch((e) => {
        if (cancelled) {
          return;
        }
        if (e instanceof ApiError && e.status === 404) {
          setGone(true);
        } else {
          setProblem(String(e instanceof Error ? e.message : e));
        }
      });
    watch();
    return () => {
      cancelled = true;
      watcher.current?.dispose();
    };
  }, [runId, watch]);

  // a run resumed after its stream ended (the sidebar's poll sees it active again): follow it anew
  useEffect(() => {
    const changed = () => {
      const s = model.find(runId);
      if (!s) {
        // gone from the list after having been in it: deleted
        if (listed.current && !model.error) {
          setGone(true);
        }
        return;
      }
      listed.current = true;
      setGone(false);
      if (isActive(s.state) && watcher.current?.isDisposed) {
        watch();
      }
    };
    model.changed.connect(changed);
    model.start();
    return () => {
      model.changed.disconnect(changed);
    };
  }, [model, runId, watch]);

  const shown = status ?? detail;
  const groups = groupMetrics(table.metricNames());
  const progress = shown ? progressOf(shown) : undefined;

  const copy = () => {
    if (detail) {
      Clipboard.copyToSystem(detail.command);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    }
  };

  return (
    <div
      className="dltoolkit-RunDetail-body"
      data-testid="run-detail"
      data-state={shown?.state ?? ''}
    >
      <div className="dltoolkit-RunDetail-header">
        <h2 className="dltoolkit-RunDetail-title">{runId}</h2>
        {shown ? <StateBadge state={shown.state} /> : null}
        {props.inspectRun ? (
          <span className="dltoolkit-RunDetail-actions">
            <button
              className="dltoolkit-Button"
              data-testid="detail-explain"
              disabled={!shown || isActive(shown.state) || gone}
              title="Explain the trained model's predictions on test images"
              onClick={() => props.inspectRun?.(runId, 'explain')}
            >
              Explain
            </button>
            <button
              className="dltoolkit-Button"
              data-testid="detail-attack"
              disabled={!shown || isActive(shown.state) || gone}
              title="Attack the trained model's test images: adversarial examples, robustness curve"
              onClick={() => props.inspectRun?.(runId, 'attack')}
            >
              Attack
            </button>
          </span>
        ) : null}
      </div>
      {gone ? (
        <div className="dltoolkit-Error" role="alert">
          This run no longer exists (deleted?).
        </div>
      ) : null}
      {problem ? <div className="dltoolkit-Muted">{problem}</div> : null}
      {shown ? (
        <div className="dltoolkit-RunDetail-status">
          <ProgressBar status={shown} />
          <div className="dltoolkit-RunDetail-facts">
            {progress?.text ? <span>{progress.text}</span> : null}
            {shown.state === 'running' &&
            shown.eta_seconds !== null &&
            shown.eta_seconds !== undefined ? (
              <span>ETA {formatDuration(shown.eta_seconds)}</span>
            ) : null}
            {shown.best ? (
              <span>
                best {shown.best.metric} {formatValue(shown.best.value)}
              </span>
            ) : null}
            {shown.updated_at ? (
              <span>updated {new Date(shown.updated_at * 1000).toLocaleTimeString()}</span>
            ) : null}
          </div>
          {shown.error ? (
            <pre className="dltoolkit-Error dltoolkit-RunDetail-traceback">
              {shown.traceback ?? shown.error}
            </pre>
          ) : null}
        </div>
      ) : null}

      {gone && !detail ? null : (
        <>
          <h3>Metrics</h3>
          {groups.length === 0 ? (
            <div className="dltoolkit-Muted">
              {shown && isActive(shown.state)
                ? 'Waiting for the first logged metrics…'
                : 'No metrics logged.'}
            </div>
          ) : (
            <>
              <div className="dltoolkit-Muted">
                Drag to zoom, double-click to reset; hover for values.
              </div>
              <div className="dltoolkit-RunDetail-charts">
                {groups.map((group) => (
                  <div className="dltoolkit-RunDetail-chart" key={group.title}>
                    <Chart
                      table={table}
                      version={version}
                      metrics={group.metrics}
                      title={group.title}
                      height={220}
                    />
                  </div>
                ))}
              </div>
            </>
          )}

          <h3>Reproduce</h3>
          <div className="dltoolkit-RunDetail-command">
            <pre data-testid="run-command">{detail?.command ?? '…'}</pre>
            <button
              className="dltoolkit-Button dltoolkit-mod-small"
              data-testid="copy-command"
              disabled={!detail}
              onClick={copy}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          <h3>Config</h3>
          <pre className="dltoolkit-RunDetail-config" data-testid="run-config">
            {detail?.config_yaml ?? '…'}
          </pre>
        </>
      )}
    </div>
  );
}
