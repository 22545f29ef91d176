/**
 * A run in the main area: a chart of every logged metric group (live through the run's event stream
 * while it trains), its status and progress, its config and the command that reproduces it; once it
 * has finished, its deployment: an ONNX export to download, a model server to start and stop.
 */
import { Clipboard, ReactWidget } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import { formatDuration, groupMetrics, MetricTable } from '@dltoolkit/widgets';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { Chart } from './chart';
import {
  ApiError,
  downloadOnnx,
  exportOnnx,
  getCatalog,
  getRun,
  getServeState,
  isActive,
  OnnxExport,
  RunDetail,
  RunStatus,
  ServeState,
  startServing,
  stopServing,
  Watcher,
  watchRun,
} from './client';
import { formatBytes, formatDiff, formatValue, parseRunId, progressOf } from './format';
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
  const deploy = useDeploy(runId, settings);
  const agent = useTrainsAnAgent(runId, settings);
  const noInspect = agent
    ? 'Explain and Attack look at image classifiers; this run trained a reinforcement-learning agent'
    : undefined;
  const groups = groupMetrics(table.metricNames());
  const progress = shown ? progressOf(shown) : undefined;

  return (
    <div
      className="dltoolkit-RunDetail-body"
      data-testid="run-detail"
      data-state={shown?.state ?? ''}
    >
      <div className="dltoolkit-RunDetail-header">
        <h2 className="dltoolkit-RunDetail-title">{runId}</h2>
        {shown ? <StateBadge state={shown.state} /> : null}
        <span className="dltoolkit-RunDetail-actions">
          {props.inspectRun ? (
            <>
              <button
                className="dltoolkit-Button"
                data-testid="detail-explain"
                disabled={!shown || isActive(shown.state) || gone || agent}
                title={noInspect ?? "Explain the trained model's predictions on test images"}
                onClick={() => props.inspectRun?.(runId, 'explain')}
              >
                Explain
              </button>
              <button
                className="dltoolkit-Button"
                data-testid="detail-attack"
                disabled={!shown || isActive(shown.state) || gone || agent}
                title={
                  noInspect ??
                  "Attack the trained model's test images: adversarial examples, robustness curve"
                }
                onClick={() => props.inspectRun?.(runId, 'attack')}
              >
                Attack
              </button>
            </>
          ) : null}
          <DeployButtons deploy={deploy} disabled={!shown || isActive(shown.state) || gone} />
        </span>
      </div>
      <DeployPanel deploy={deploy} />
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
            <CopyButton text={detail?.command} testid="copy-command" />
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

/** Whether the run's model is a catalog model of the `rl` topic (read from the catalog; false until
 * known, and for a model the catalog does not name). */
export function useTrainsAnAgent(runId: string, settings?: ServerConnection.ISettings): boolean {
  const [agent, setAgent] = useState(false);
  useEffect(() => {
    const name = parseRunId(runId)?.model;
    let cancelled = false;
    getCatalog(settings)
      .then((catalog) => {
        if (!cancelled) {
          setAgent(catalog.models.find((m) => m.name === name)?.topic === 'rl');
        }
      })
      .catch(() => undefined); // unknown: the buttons stay, and the server says why if they cannot work
    return () => {
      cancelled = true;
    };
  }, [runId, settings]);
  return agent;
}

// --- deployment: the ONNX export and the model server of a finished run ---------------------------

/** The message of a server that died on its own, with its log's tail; `null` for any other state. */
export function serverDiedMessage(state: ServeState): string | null {
  if (
    state.serving ||
    state.starting ||
    state.exit_code === undefined ||
    state.exit_code === null
  ) {
    return null;
  }
  const tail = state.log_tail ? `; its log ends with:\n${state.log_tail}` : '';
  return `The model server exited (code ${state.exit_code})${tail}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A run's deployment state and actions (what `useDeploy` gives the buttons and the panel). */
export interface Deploy {
  exporting: boolean;
  /** the last export, and an object URL of its file (fetched with the token) to download */
  onnx: { info: OnnxExport; href: string } | null;
  serve: ServeState | null;
  serveBusy: 'starting' | 'stopping' | null;
  error: string | null;
  exportModel: () => Promise<void>;
  startServer: () => Promise<void>;
  stopServer: () => Promise<void>;
}

/**
 * The "Export ONNX" and "Serve" actions of a run, all through the client: the server's state is read
 * when the view opens (a server started from another tab shows here), then every `pollMs` while it
 * serves, so a server that died is reported.
 */
export function useDeploy(
  runId: string,
  settings?: ServerConnection.ISettings,
  pollMs = 10000,
): Deploy {
  const [exporting, setExporting] = useState(false);
  const [onnx, setOnnx] = useState<Deploy['onnx']>(null);
  const [serve, setServe] = useState<ServeState | null>(null);
  const [serveBusy, setServeBusy] = useState<Deploy['serveBusy']>(null);
  const [error, setError] = useState<string | null>(null);
  const mounted = useRef(true);
  const href = useRef<string | null>(null);
  // bumped by every start and stop: a state read before one of them is out of date when it arrives
  const epoch = useRef(0);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      if (href.current) {
        URL.revokeObjectURL(href.current);
        href.current = null;
      }
    };
  }, []);

  const learn = useCallback((state: ServeState) => {
    setServe(state);
    const died = serverDiedMessage(state);
    if (died) {
      setError(died);
    }
  }, []);

  const readState = useCallback(async () => {
    const asked = epoch.current;
    const state = await getServeState(runId, settings);
    if (mounted.current && asked === epoch.current) {
      learn(state);
    }
    return state;
  }, [runId, settings, learn]);

  // start or stop: the newest change wins, and the answer to an older one is dropped
  const changeServer = useCallback(
    async (busy: 'starting' | 'stopping', call: () => Promise<ServeState>) => {
      const mine = ++epoch.current;
      const current = () => mounted.current && mine === epoch.current;
      setServeBusy(busy);
      setError(null);
      try {
        const state = await call();
        if (current()) {
          learn(state);
        }
      } catch (e) {
        if (current()) {
          if (busy === 'starting') {
            setServe(null);
          }
          setError(messageOf(e));
        }
      } finally {
        if (current()) {
          setServeBusy(null);
        }
      }
    },
    [learn],
  );
  const startServer = useCallback(
    () => changeServer('starting', () => startServing(runId, settings)),
    [changeServer, runId, settings],
  );
  const stopServer = useCallback(
    () => changeServer('stopping', () => stopServing(runId, settings)),
    [changeServer, runId, settings],
  );

  const exportModel = useCallback(async () => {
    setExporting(true);
    setError(null);
    try {
      const info = await exportOnnx(runId, settings);
      const blob = await downloadOnnx(runId, settings);
      if (!mounted.current) {
        return;
      }
      if (href.current) {
        URL.revokeObjectURL(href.current);
      }
      href.current = URL.createObjectURL(blob);
      setOnnx({ info, href: href.current });
    } catch (e) {
      if (mounted.current) {
        setError(messageOf(e));
      }
    } finally {
      if (mounted.current) {
        setExporting(false);
      }
    }
  }, [runId, settings]);

  // when the view opens: is the run served already? (one still starting: wait for it here too)
  useEffect(() => {
    readState()
      .then((state) => {
        if (state.starting && mounted.current) {
          void startServer();
        }
      })
      .catch((e) => {
        // a run that is gone says so in the view itself
        if (mounted.current && !(e instanceof ApiError && e.status === 404)) {
          setError(`The model server's state could not be read: ${messageOf(e)}`);
        }
      });
  }, [readState, startServer]);

  const serving = serve?.serving ?? false;
  useEffect(() => {
    if (!serving) {
      return;
    }
    const timer = setInterval(() => {
      readState().catch(() => undefined); // a missed poll is retried by the next one
    }, pollMs);
    return () => clearInterval(timer);
  }, [serving, readState, pollMs]);

  return { exporting, onnx, serve, serveBusy, error, exportModel, startServer, stopServer };
}

/** The header's "Export ONNX" and "Serve" buttons (disabled while the run trains). */
export function DeployButtons(props: { deploy: Deploy; disabled: boolean }): JSX.Element {
  const { deploy, disabled } = props;
  const serving = deploy.serve?.serving ?? false;
  return (
    <>
      <button
        className="dltoolkit-Button"
        data-testid="detail-export-onnx"
        aria-label="Export ONNX"
        aria-busy={deploy.exporting}
        disabled={disabled || deploy.exporting}
        title="Export the trained model to ONNX (checked against PyTorch) and offer the file"
        onClick={() => void deploy.exportModel()}
      >
        {deploy.exporting ? 'Exporting…' : 'Export ONNX'}
      </button>
      <button
        className="dltoolkit-Button"
        data-testid="detail-serve"
        aria-label="Serve"
        aria-busy={deploy.serveBusy === 'starting'}
        disabled={disabled || serving || deploy.serveBusy !== null}
        title="Serve the trained model over REST (TF Serving and KServe v2) on the Jupyter server's machine"
        onClick={() => void deploy.startServer()}
      >
        {deploy.serveBusy === 'starting' ? 'Starting…' : serving ? 'Serving' : 'Serve'}
      </button>
    </>
  );
}

/** A small "Copy" button that puts `text` on the clipboard and says "Copied" for a moment (disabled
 * while there is no text yet). */
function CopyButton(props: { text?: string | null; testid: string; label?: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const { text } = props;
  return (
    <button
      className="dltoolkit-Button dltoolkit-mod-small"
      data-testid={props.testid}
      aria-label={props.label}
      disabled={!text}
      onClick={() => {
        if (text) {
          Clipboard.copyToSystem(text);
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        }
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** Below the header: the deployment's errors, the download link and the running server's URLs. */
export function DeployPanel(props: { deploy: Deploy }): JSX.Element | null {
  const { deploy } = props;
  const { onnx, serve, error } = deploy;
  if (!error && !onnx && !deploy.exporting && !deploy.serveBusy && !serve?.serving) {
    return null;
  }
  return (
    <div className="dltoolkit-Deploy" data-testid="deploy">
      {error ? (
        <div className="dltoolkit-Error" role="alert" data-testid="deploy-error">
          {error}
        </div>
      ) : null}
      {deploy.exporting ? (
        <div className="dltoolkit-Muted">Exporting to ONNX and checking it against PyTorch…</div>
      ) : null}
      {onnx ? (
        <div className="dltoolkit-Deploy-onnx" data-testid="onnx-result">
          <a
            className="dltoolkit-Deploy-download"
            href={onnx.href}
            download={onnx.info.filename}
            data-testid="onnx-download"
            aria-label={`Download ${onnx.info.filename}`}
          >
            Download {onnx.info.filename} ({formatBytes(onnx.info.bytes)})
          </a>
          <span className="dltoolkit-Muted" data-testid="onnx-parity">
            max |ONNX Runtime − PyTorch| = {formatDiff(onnx.info.max_abs_diff)} on{' '}
            {onnx.info.verified_on} · opset {onnx.info.opset} · on the server at {onnx.info.file}
          </span>
        </div>
      ) : null}
      {deploy.serveBusy === 'starting' ? (
        <div className="dltoolkit-Muted">Starting the model server (it loads the checkpoint)…</div>
      ) : null}
      {serve?.serving && serve.url ? (
        <div className="dltoolkit-Deploy-serve" data-testid="serve-info">
          <div className="dltoolkit-Deploy-row">
            <span className="dltoolkit-Deploy-label">
              Serving <strong>{serve.name}</strong> at
            </span>
            <code className="dltoolkit-Deploy-url" data-testid="serve-url">
              {serve.url}
            </code>
            <CopyButton text={serve.url} testid="serve-copy-url" label="Copy server URL" />
            <button
              className="dltoolkit-Button dltoolkit-mod-small dltoolkit-mod-warn"
              data-testid="serve-stop"
              aria-label="Stop serving"
              disabled={deploy.serveBusy !== null}
              onClick={() => void deploy.stopServer()}
            >
              {deploy.serveBusy === 'stopping' ? 'Stopping…' : 'Stop serving'}
            </button>
          </div>
          <div className="dltoolkit-Deploy-row">
            <span className="dltoolkit-Deploy-label">TF Serving predict</span>
            <code className="dltoolkit-Deploy-url" data-testid="serve-predict-url">
              {serve.predict_url}
            </code>
          </div>
          <div className="dltoolkit-Deploy-row">
            <span className="dltoolkit-Deploy-label">KServe v2 infer</span>
            <code className="dltoolkit-Deploy-url" data-testid="serve-infer-url">
              {serve.infer_url}
            </code>
          </div>
          {serve.example ? (
            <div className="dltoolkit-RunDetail-command">
              <pre data-testid="serve-example" aria-label="Example request">
                {serve.example}
              </pre>
              <CopyButton
                text={serve.example}
                testid="serve-copy-example"
                label="Copy example request"
              />
            </div>
          ) : null}
          <div className="dltoolkit-Muted">
            The server runs on the Jupyter server&apos;s machine (pid {serve.pid}, log {serve.log}
            ). From another machine (JupyterHub, a remote server) its port is reachable only if
            forwarded, e.g.{' '}
            <code>
              ssh -L {serve.port}:127.0.0.1:{serve.port} HOST
            </code>
            .
          </div>
        </div>
      ) : null}
    </div>
  );
}
