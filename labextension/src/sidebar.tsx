/**
 * The left sidebar: the catalog (models by curriculum topic), the launch form (rendered from the
 * model's and the data module's JSON schemas by JupyterLab's `FormComponent`) and one card per run.
 */
import { Dialog, ReactWidget, showDialog } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import { FormComponent } from '@jupyterlab/ui-components';
import { chooseMainMetric, formatDuration, lossMetric, MetricTable } from '@dltoolkit/widgets';
import type { RJSFValidationError } from '@rjsf/utils';
import validator from '@rjsf/validator-ajv8';
import React, { useEffect, useMemo, useRef, useState } from 'react';

import { Chart } from './chart';
import { NumberListField } from './fields';
import {
  ApiError,
  Catalog,
  CatalogModel,
  deleteRun,
  getCatalog,
  getLogs,
  getMetrics,
  getOpenAPI,
  isActive,
  JSONSchema,
  launchRun,
  launchSchemaOf,
  resumeRun,
  RunStatus,
  stopRun,
} from './client';
import { formatValue, parseRunId, progressOf, timeAgo } from './format';
import {
  buildLaunchForm,
  buildLaunchRequest,
  carryOver,
  FormData,
  keepUnchangedErrors,
  LaunchForm,
  mapServerErrors,
  NUMBER_LIST_FIELD,
} from './launch';
import type { InspectTab } from './inspect';
import { RunsModel } from './model';

/** rjsf's AJV 8 validator, typed for `FormComponent` (whose form data is a ReadonlyJSONObject). */
const formValidator = validator as unknown as Parameters<typeof FormComponent>[0]['validator'];

export interface ISidebarOptions {
  model: RunsModel;
  settings?: ServerConnection.ISettings;
  /** open a run's detail in the main area */
  openRun: (runId: string) => void;
  /** open a finished run's Explain or Attack view in the main area */
  inspectRun?: (runId: string, view: InspectTab) => void;
}

/** The sidebar panel (`#dltoolkit-sidebar`). */
export class DLToolkitSidebar extends ReactWidget {
  constructor(private readonly options: ISidebarOptions) {
    super();
    this.id = 'dltoolkit-sidebar';
    this.addClass('dltoolkit-Sidebar');
  }

  protected render(): JSX.Element {
    return <SidebarApp {...this.options} />;
  }
}

function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    return error.status ? `${error.message} (HTTP ${error.status})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Re-render when the runs model changes. */
function useRunsModel(model: RunsModel): void {
  const [, setCount] = useState(0);
  useEffect(() => {
    const changed = () => setCount((c) => c + 1);
    model.changed.connect(changed);
    model.start();
    return () => {
      model.changed.disconnect(changed);
    };
  }, [model]);
}

/** The first model in curriculum order (the catalog lists models by name). */
function firstModel(catalog: Catalog): string {
  const names = new Set(catalog.models.map((m) => m.name));
  return (
    catalog.topics.flatMap((t) => t.models).find((n) => names.has(n)) ??
    catalog.models[0]?.name ??
    ''
  );
}

function SidebarApp(props: ISidebarOptions): JSX.Element {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [launchSchema, setLaunchSchema] = useState<JSONSchema | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [modelName, setModelName] = useState<string>('');
  const launchRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let cancelled = false;
    setLoadError(null);
    Promise.all([getCatalog(props.settings), getOpenAPI(props.settings).catch(() => undefined)])
      .then(([cat, openapi]) => {
        if (cancelled) {
          return;
        }
        setCatalog(cat);
        setLaunchSchema(openapi ? launchSchemaOf(openapi) : undefined);
        setModelName((name) => name || firstModel(cat));
      })
      .catch((error) => !cancelled && setLoadError(errorText(error)));
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  const select = (name: string) => {
    setModelName(name);
    launchRef.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  };

  return (
    <div className="dltoolkit-SidebarContent">
      <header className="dltoolkit-Sidebar-header">Deep Learning</header>
      {loadError ? (
        <div className="dltoolkit-Error" role="alert">
          The catalog could not be read: {loadError}{' '}
          <button className="dltoolkit-Button" onClick={() => setAttempt((a) => a + 1)}>
            Retry
          </button>
        </div>
      ) : null}
      {catalog ? (
        <>
          <Section title="Catalog">
            <CatalogSection catalog={catalog} selected={modelName} onSelect={select} />
          </Section>
          <div ref={launchRef}>
            <Section title="Launch">
              <LaunchSection
                catalog={catalog}
                launchSchema={launchSchema}
                modelName={modelName}
                onModelChange={setModelName}
                settings={props.settings}
                onLaunched={() => void props.model.refresh()}
                openRun={props.openRun}
              />
            </Section>
          </div>
        </>
      ) : loadError ? null : (
        <div className="dltoolkit-Muted">Loading the catalog…</div>
      )}
      <Section title="Runs">
        <RunsSection {...props} />
      </Section>
    </div>
  );
}

function Section(props: { title: string; children: React.ReactNode }): JSX.Element {
  return (
    <details className="dltoolkit-Section" open>
      <summary className="dltoolkit-Section-title">{props.title}</summary>
      <div className="dltoolkit-Section-body">{props.children}</div>
    </details>
  );
}

// --- catalog --------------------------------------------------------------------------------------

function CatalogSection(props: {
  catalog: Catalog;
  selected: string;
  onSelect: (name: string) => void;
}): JSX.Element {
  const [query, setQuery] = useState('');
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const byName = new Map(props.catalog.models.map((m) => [m.name, m]));
    const topics = [...props.catalog.topics];
    const listed = new Set(topics.flatMap((t) => t.models));
    const others = props.catalog.models.filter((m) => !listed.has(m.name)).map((m) => m.name);
    if (others.length) {
      topics.push({ key: 'other', title: 'Other', models: others });
    }
    return topics
      .map((topic) => {
        const models = topic.models
          .map((name) => byName.get(name))
          .filter((m): m is CatalogModel => !!m)
          .filter(
            (m) =>
              !q ||
              [m.name, m.description, m.topic, topic.title].some((s) =>
                (s ?? '').toLowerCase().includes(q),
              ),
          );
        return { topic, models };
      })
      .filter((g) => g.models.length > 0);
  }, [props.catalog, query]);

  return (
    <div className="dltoolkit-Catalog">
      <input
        className="dltoolkit-Input"
        type="search"
        placeholder="Search models, topics…"
        aria-label="Search the catalog"
        data-testid="catalog-search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      {groups.length === 0 ? <div className="dltoolkit-Muted">No model matches.</div> : null}
      <div className="dltoolkit-Catalog-list">
        {groups.map(({ topic, models }) => (
          <div key={topic.key} className="dltoolkit-Catalog-topic">
            <div className="dltoolkit-Catalog-topicTitle" title={topic.title}>
              {topic.title}
            </div>
            {models.map((m) => (
              <button
                key={m.name}
                className={
                  'dltoolkit-Catalog-model' +
                  (m.name === props.selected ? ' dltoolkit-mod-selected' : '')
                }
                aria-pressed={m.name === props.selected}
                data-testid={`catalog-model-${m.name}`}
                title={`${m.name}: ${m.description}`}
                onClick={() => props.onSelect(m.name)}
              >
                <span className="dltoolkit-Catalog-name">{m.name}</span>
                <span className="dltoolkit-Catalog-description">{m.description}</span>
              </button>
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}

// --- launch form ----------------------------------------------------------------------------------

function LaunchSection(props: {
  catalog: Catalog;
  launchSchema: JSONSchema | undefined;
  modelName: string;
  onModelChange: (name: string) => void;
  settings?: ServerConnection.ISettings;
  onLaunched: (status: RunStatus) => void;
  openRun: (runId: string) => void;
}): JSX.Element {
  const { catalog } = props;
  const model = catalog.models.find((m) => m.name === props.modelName) ?? catalog.models[0];
  // the data set picked for this model; another model starts with its own default data
  const [dataChoice, setDataChoice] = useState<{ model: string; data: string } | null>(null);
  const dataName =
    dataChoice && dataChoice.model === model?.name ? dataChoice.data : (model?.data ?? '');
  const dataSpec = catalog.data.find((d) => d.name === dataName);
  const form = useMemo(
    () => (model ? buildLaunchForm(model, dataSpec, props.launchSchema) : undefined),
    [model, dataSpec, props.launchSchema],
  );
  // what the form holds, for the form it was entered in (a new form starts from `carryOver`)
  const [entered, setEntered] = useState<{ form: LaunchForm; data: FormData } | null>(null);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [clientErrors, setClientErrors] = useState<string[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [launched, setLaunched] = useState<string | null>(null);

  useEffect(() => {
    setServerErrors({});
    setClientErrors([]);
    setFailure(null);
  }, [form]);

  if (!model || !form) {
    return <div className="dltoolkit-Muted">The catalog has no model.</div>;
  }
  const formData = entered?.form === form ? entered.data : carryOver(entered, form);
  const mapped = mapServerErrors(serverErrors, form.schema);
  const messages = [...(failure ? [failure] : []), ...clientErrors, ...mapped.messages];

  const submit = async (data: FormData) => {
    setSubmitting(true);
    setClientErrors([]);
    setFailure(null);
    setServerErrors({});
    setLaunched(null);
    try {
      const status = await launchRun(
        buildLaunchRequest(model, dataName, form, data),
        props.settings,
      );
      setLaunched(status.run_id);
      props.onLaunched(status);
    } catch (error) {
      if (error instanceof ApiError && error.errors) {
        setServerErrors(error.errors);
      } else {
        setFailure(`The run could not be launched: ${errorText(error)}`);
      }
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div className="dltoolkit-Launch" data-testid="launch-form">
      <label className="dltoolkit-Field">
        <span className="dltoolkit-Field-label">model</span>
        <select
          className="dltoolkit-Select"
          data-testid="launch-model"
          value={model.name}
          onChange={(e) => props.onModelChange(e.target.value)}
        >
          {catalog.topics
            .filter((t) => t.models.length)
            .map((t) => (
              <optgroup key={t.key} label={t.title}>
                {t.models.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </optgroup>
            ))}
          {catalog.models
            .filter((m) => !catalog.topics.some((t) => t.models.includes(m.name)))
            .map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
        </select>
      </label>
      <div className="dltoolkit-Launch-description">{model.description}</div>
      {model.target ? (
        <div className="dltoolkit-Muted">
          target: {model.target.metric} {model.target.mode === 'min' ? '≤' : '≥'}{' '}
          {model.target.threshold} within {model.target.max_epochs} epochs
        </div>
      ) : null}
      <label className="dltoolkit-Field">
        <span className="dltoolkit-Field-label">data</span>
        <select
          className="dltoolkit-Select"
          data-testid="launch-data"
          value={dataName}
          onChange={(e) => setDataChoice({ model: model.name, data: e.target.value })}
        >
          {catalog.data.map((d) => (
            <option key={d.name} value={d.name} title={d.description}>
              {d.name === model.data ? `${d.name} (default)` : d.name}
            </option>
          ))}
        </select>
      </label>
      {dataSpec ? <div className="dltoolkit-Launch-description">{dataSpec.description}</div> : null}
      {mapped.general.length ? (
        <div className="dltoolkit-Error" role="alert">
          {mapped.general.join('; ')}
        </div>
      ) : null}
      <FormComponent
        key={`${model.name}/${dataName}`}
        schema={form.schema}
        uiSchema={form.uiSchema}
        fields={{ [NUMBER_LIST_FIELD]: NumberListField }}
        formData={formData as unknown as Record<string, never>}
        formContext={{ defaultFormData: form.defaults }}
        validator={formValidator}
        extraErrors={mapped.extraErrors as never}
        showErrorList={false}
        noHtml5Validate
        compact
        onChange={(e) => {
          const next = e.formData as unknown as FormData;
          setServerErrors((errors) => keepUnchangedErrors(errors, formData, next));
          setEntered({ form, data: next });
        }}
        onError={(errors: RJSFValidationError[]) =>
          setClientErrors(
            errors.map((e) => {
              const field = (e.property ?? '').replace(/^\./, '');
              return field ? `${field}: ${e.message}` : (e.stack ?? String(e.message));
            }),
          )
        }
        onSubmit={(e) => void submit(e.formData as unknown as FormData)}
      >
        <div className="dltoolkit-Launch-actions">
          <button
            type="submit"
            className="dltoolkit-Button dltoolkit-mod-accept"
            data-testid="launch-submit"
            disabled={submitting}
          >
            {submitting ? 'Launching…' : 'Launch'}
          </button>
          {launched ? (
            <span className="dltoolkit-Muted" data-testid="launch-result">
              launched{' '}
              <a
                href="#"
                onClick={(e) => {
                  e.preventDefault();
                  props.openRun(launched);
                }}
              >
                {launched}
              </a>
            </span>
          ) : null}
        </div>
      </FormComponent>
      {messages.length ? (
        <div
          className="dltoolkit-Error dltoolkit-Launch-errors"
          role="alert"
          data-testid="launch-errors"
        >
          <div>
            {failure && messages.length === 1 ? 'Launch failed' : 'The launch request is invalid:'}
          </div>
          <ul>
            {messages.map((m, i) => (
              <li key={i}>{m}</li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

// --- runs -----------------------------------------------------------------------------------------

function RunsSection(props: ISidebarOptions): JSX.Element {
  const { model } = props;
  useRunsModel(model);
  return (
    <div className="dltoolkit-Runs">
      <div className="dltoolkit-Runs-toolbar">
        <span className="dltoolkit-Muted">
          {model.loaded
            ? `${model.runs.length} run${model.runs.length === 1 ? '' : 's'}`
            : 'Loading runs…'}
        </span>
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          onClick={() => void model.refresh()}
        >
          Refresh
        </button>
      </div>
      {model.error ? (
        <div className="dltoolkit-Error" role="alert">
          The runs could not be listed: {errorText(model.error)}
        </div>
      ) : null}
      {model.loaded && model.runs.length === 0 ? (
        <div className="dltoolkit-Muted">No runs yet: launch one above.</div>
      ) : null}
      {model.runs.map((status) => (
        <RunCard
          key={status.run_id}
          status={status}
          tick={model.tick}
          settings={props.settings}
          onOpen={props.openRun}
          onInspect={props.inspectRun}
          onChanged={() => void model.refresh()}
        />
      ))}
    </div>
  );
}

export function StateBadge(props: { state: string }): JSX.Element {
  return (
    <span className={`dltoolkit-Badge dltoolkit-Badge-${props.state}`} data-testid="run-state">
      {props.state}
    </span>
  );
}

export function ProgressBar(props: { status: RunStatus }): JSX.Element {
  const progress = progressOf(props.status);
  const percent = progress.percent ?? 0;
  return (
    <div
      className={
        'dltoolkit-Progress' +
        (progress.percent === undefined ? ' dltoolkit-mod-indeterminate' : '')
      }
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(percent)}
      aria-valuetext={progress.text || undefined}
      title={progress.text}
    >
      <div className="dltoolkit-Progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

/** The loss and the main metric, the two curves a small chart has room for. */
function cardMetrics(names: string[]): string[] {
  const picked = [lossMetric(names), chooseMainMetric(names)].filter((m): m is string => !!m);
  return [...new Set(picked)];
}

function RunCard(props: {
  status: RunStatus;
  tick: number;
  settings?: ServerConnection.ISettings;
  onOpen: (runId: string) => void;
  onInspect?: (runId: string, view: InspectTab) => void;
  onChanged: () => void;
}): JSX.Element {
  const { status, settings } = props;
  const id = status.run_id;
  const parts = parseRunId(id);
  const active = isActive(status.state);
  const [table] = useState(() => new MetricTable());
  const [version, setVersion] = useState(0);
  const since = useRef(0);
  const fetching = useRef(false);
  const fetchedFinal = useRef(false);
  const mounted = useRef(true);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [showLogs, setShowLogs] = useState(false);
  const [logs, setLogs] = useState<string>('');
  const logRef = useRef<HTMLPreElement>(null);

  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  // new metric rows on every poll while the run is active, once more when it has ended
  useEffect(() => {
    if (active) {
      fetchedFinal.current = false;
    }
    if (fetching.current || (!active && fetchedFinal.current)) {
      return;
    }
    fetching.current = true;
    getMetrics(id, since.current, settings)
      .then((page) => {
        if (!mounted.current) {
          return;
        }
        since.current = page.next;
        if (!active) {
          fetchedFinal.current = true;
        }
        if (page.rows.length) {
          table.append(page.rows);
          setVersion((v) => v + 1);
        }
      })
      .catch(() => undefined) // the next poll tries again
      .finally(() => {
        fetching.current = false;
      });
  }, [props.tick, status.state]);

  // the log tail, while shown: on opening, then on every poll while the run is active
  useEffect(() => {
    if (!showLogs) {
      return;
    }
    getLogs(id, 40, settings)
      .then((answer) => mounted.current && setLogs(answer.text))
      .catch((e) => mounted.current && setLogs(`(the log could not be read: ${errorText(e)})`));
  }, [showLogs, active ? props.tick : status.state]);

  // a tail reads from the bottom
  useEffect(() => {
    if (logRef.current) {
      logRef.current.scrollTop = logRef.current.scrollHeight;
    }
  }, [logs, showLogs]);

  const act = async (label: string, action: () => Promise<unknown>) => {
    setBusy(label);
    setError(null);
    try {
      await action();
    } catch (e) {
      if (mounted.current) {
        setError(errorText(e));
      }
    } finally {
      if (mounted.current) {
        setBusy(null);
      }
      props.onChanged();
    }
  };

  const remove = async () => {
    const answer = await showDialog({
      title: 'Delete this run?',
      body: `${id} and its folder (config, metrics, checkpoints, log) will be removed.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })],
    });
    if (answer.button.accept) {
      await act('Deleting…', () => deleteRun(id, settings));
    }
  };

  const names = table.metricNames();
  const metrics = cardMetrics(names);
  const lastRow = (name: string) => {
    const y = table.series(name).y;
    for (let i = y.length - 1; i >= 0; i--) {
      if (y[i] !== null && y[i] !== undefined) {
        return y[i];
      }
    }
    return null;
  };
  const progress = progressOf(status);
  const canResume = ['stopped', 'interrupted', 'failed'].includes(status.state);

  return (
    <div
      className={`dltoolkit-RunCard dltoolkit-RunCard-${status.state}`}
      data-testid={`run-${id}`}
      data-state={status.state}
    >
      <div className="dltoolkit-RunCard-header">
        <button
          className="dltoolkit-RunCard-title"
          title={`Open ${id}`}
          onClick={() => props.onOpen(id)}
        >
          {parts ? parts.model : id}
        </button>
        <StateBadge state={status.state} />
      </div>
      <div className="dltoolkit-RunCard-meta" title={id}>
        {parts ? (
          <>
            {parts.data} · seed {parts.seed} · <span title={parts.time}>{timeAgo(parts.date)}</span>
          </>
        ) : (
          id
        )}
      </div>
      <ProgressBar status={status} />
      <div className="dltoolkit-RunCard-progress">
        <span>{progress.text}</span>
        {status.state === 'running' &&
        status.eta_seconds !== null &&
        status.eta_seconds !== undefined ? (
          <span>ETA {formatDuration(status.eta_seconds)}</span>
        ) : null}
      </div>
      {metrics.length ? (
        <div className="dltoolkit-RunCard-chart">
          <Chart table={table} version={version} metrics={metrics} height={90} compact />
          <div className="dltoolkit-RunCard-values">
            {metrics.map((m) => {
              const v = lastRow(m);
              return (
                <span key={m}>
                  {m} {formatValue(v)}
                </span>
              );
            })}
          </div>
        </div>
      ) : null}
      {status.error ? (
        <div
          className="dltoolkit-Error dltoolkit-RunCard-failure"
          title={status.traceback ?? status.error}
        >
          {status.error}
        </div>
      ) : null}
      {error ? (
        <div className="dltoolkit-Error" role="alert" data-testid="run-error">
          {error}
        </div>
      ) : null}
      <div className="dltoolkit-RunCard-actions">
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          data-testid="run-stop"
          disabled={!active || !!busy}
          onClick={() => void act('Stopping…', () => stopRun(id, settings))}
        >
          {busy === 'Stopping…' ? busy : 'Stop'}
        </button>
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          data-testid="run-resume"
          disabled={!canResume || !!busy}
          onClick={() => void act('Resuming…', () => resumeRun(id, settings))}
        >
          {busy === 'Resuming…' ? busy : 'Resume'}
        </button>
        <button
          className="dltoolkit-Button dltoolkit-mod-small dltoolkit-mod-warn"
          data-testid="run-delete"
          disabled={active || !!busy}
          onClick={() => void remove()}
        >
          {busy === 'Deleting…' ? busy : 'Delete'}
        </button>
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          data-testid="run-logs"
          aria-pressed={showLogs}
          onClick={() => setShowLogs((s) => !s)}
        >
          Log
        </button>
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          data-testid="run-open"
          onClick={() => props.onOpen(id)}
        >
          Open
        </button>
        {props.onInspect && !active ? (
          <>
            <button
              className="dltoolkit-Button dltoolkit-mod-small"
              data-testid="run-explain"
              title="Explain the trained model's predictions on test images"
              onClick={() => props.onInspect?.(id, 'explain')}
            >
              Explain
            </button>
            <button
              className="dltoolkit-Button dltoolkit-mod-small"
              data-testid="run-attack"
              title="Attack the trained model's test images: adversarial examples, robustness curve"
              onClick={() => props.onInspect?.(id, 'attack')}
            >
              Attack
            </button>
          </>
        ) : null}
      </div>
      {showLogs ? (
        <pre className="dltoolkit-RunCard-log" data-testid="run-log-text" ref={logRef}>
          {logs || '(empty)'}
        </pre>
      ) : null}
    </div>
  );
}
