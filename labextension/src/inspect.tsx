/**
 * Inside a finished run's model: its test images, explained (Captum attributions as a heatmap over
 * the image, the top classes) and attacked (an adversarial example, the perturbation, the accuracy
 * as the budget grows). One view per run with an Explain and an Attack tab that share the picked
 * sample, so a digit can be explained and then attacked without being looked for twice. All the
 * work is the server's (`ModelInspector`); this file only asks and shows.
 */
import type { ServerConnection } from '@jupyterlab/services';
import { MetricTable } from '@dltoolkit/widgets';
import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';

import { Chart } from './chart';
import {
  ApiError,
  AttackRequest,
  AttackResult,
  attackRun,
  attackTakesEps,
  ATTACKS,
  EXPLAIN_METHODS,
  ExplainRequest,
  ExplainResult,
  explainRun,
  getSamples,
  Sample,
  SamplesPage,
  TopClass,
} from './client';
import { parseRunId } from './format';

export type InspectTab = 'explain' | 'attack';

/** What a person reads in the method select, and a line on what the method computes. */
export const METHOD_INFO: Record<string, { label: string; about: string }> = {
  integrated_gradients: {
    label: 'Integrated Gradients',
    about: 'gradients integrated along a path from a black image (Sundararajan et al., 2017)',
  },
  saliency: { label: 'Saliency', about: 'the gradient’s magnitude (Simonyan et al., 2014)' },
  deeplift: {
    label: 'DeepLIFT',
    about: 'differences from a black baseline, propagated layer by layer (Shrikumar et al., 2017)',
  },
  gradient_shap: {
    label: 'GradientSHAP',
    about: 'expected gradients over noisy baselines (Lundberg & Lee, 2017)',
  },
  occlusion: { label: 'Occlusion', about: 'how much the score drops when a patch is hidden' },
  guided_backprop: {
    label: 'Guided Backprop',
    about: 'gradients with only positive signals passed back (Springenberg et al., 2015)',
  },
  grad_cam: {
    label: 'Grad-CAM',
    about:
      'the last convolution’s class activation map (Selvaraju et al., 2017); needs a conv layer',
  },
  layer_conductance: {
    label: 'Layer Conductance',
    about: 'attribution through the last convolution (Dhamdhere et al., 2018); needs a conv layer',
  },
};

/** What a person reads in the attack select, and a line on the attack. */
export const ATTACK_INFO: Record<string, { label: string; about: string }> = {
  fgsm: { label: 'FGSM', about: 'one signed-gradient step (Goodfellow et al., 2015)' },
  pgd: {
    label: 'PGD',
    about: 'projected gradient descent from a random start (Madry et al., 2018)',
  },
  mifgsm: { label: 'MI-FGSM', about: 'iterative FGSM with momentum (Dong et al., 2018)' },
  cw: {
    label: 'C&W (L2)',
    about: 'Carlini & Wagner (2017): the smallest L2 perturbation that fools; no eps',
  },
  deepfool: {
    label: 'DeepFool (L2)',
    about: 'the smallest L2 step over the nearest boundary (Moosavi-Dezfooli et al., 2016); no eps',
  },
  square: {
    label: 'Square',
    about: 'gradient-free random search (Andriushchenko et al., 2020): no gradient masking',
  },
  autoattack: {
    label: 'AutoAttack',
    about: 'APGD-CE, APGD-T, FAB-T and Square (Croce & Hein, 2020): the strongest, and slowest',
  },
};

/** The range of the eps slider (the server takes up to 1: beyond 0.5 any image can become any). */
export const EPS_MAX = 0.5;
export const EPS_STEP = 0.01;

const SAMPLES_PAGE = 60;
const SAMPLES_MAX = 256; // the server keeps the first 256 test images

// --- pure helpers (unit-tested) -------------------------------------------------------------------

/** The sentinel `LatestOnly.run` resolves to when a newer request replaced this one. */
export const SUPERSEDED: unique symbol = Symbol('superseded');

/**
 * One request at a time, the newest wins: `run()` aborts the request before it, and an answer (or
 * error) that comes after a newer `run()` or a `cancel()` resolves to `SUPERSEDED`, never shown.
 */
export class LatestOnly {
  private serial = 0;
  private controller: AbortController | null = null;

  /** whether a request is in flight */
  get busy(): boolean {
    return this.controller !== null;
  }

  async run<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T | typeof SUPERSEDED> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const serial = ++this.serial;
    try {
      const value = await call(controller.signal);
      return serial === this.serial ? value : SUPERSEDED;
    } catch (error) {
      if (serial !== this.serial) {
        return SUPERSEDED;
      }
      throw error;
    } finally {
      if (serial === this.serial) {
        this.controller = null;
      }
    }
  }

  /** Forget the request in flight (its answer will be `SUPERSEDED`). */
  cancel(): void {
    this.serial++;
    this.controller?.abort();
    this.controller = null;
  }
}

/** A failed request, split for display: messages by field (shown beside their controls) and the rest. */
export interface Problem {
  message: string;
  fields: Record<string, string>;
}

export function problemOf(error: unknown): Problem {
  if (error instanceof ApiError) {
    const fields = { ...(error.errors ?? {}) };
    if (error.status === 400 && Object.keys(fields).length) {
      return { message: 'The server refused the request:', fields };
    }
    const message =
      error.status === 409
        ? error.message
        : error.status
          ? `${error.message} (HTTP ${error.status})`
          : error.message;
    return { message, fields };
  }
  return { message: error instanceof Error ? error.message : String(error), fields: {} };
}

/** The field errors that no control of the tab shows (listed in the tab's error box instead). */
export function unplacedErrors(
  fields: Record<string, string>,
  placed: readonly string[],
): [string, string][] {
  return Object.entries(fields).filter(([field]) => !placed.includes(field));
}

/** A probability as a percentage with one decimal (`98.1%`, `<0.1%`). */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) {
    return '–';
  }
  const percent = 100 * p;
  if (percent > 0 && percent < 0.05) {
    return '<0.1%';
  }
  return `${percent.toFixed(1)}%`;
}

/** Seconds as `0.42 s`, `12.3 s`, or milliseconds under a tenth of a second. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return '–';
  }
  if (seconds < 0.1) {
    return `${Math.max(1, Math.round(seconds * 1000))} ms`;
  }
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`;
}

/** The eps slider's value as text, with its 8-bit equivalent (`0.03 ≈ 8/255`). */
export function formatEps(eps: number): string {
  return `${eps.toFixed(2)} ≈ ${Math.round(eps * 255)}/255`;
}

/** What the attack did to the prediction: `fooled` (right before, wrong after), `held` (still
 * right), or `wrong` (already misclassified before the attack). */
export function attackVerdict(result: Pick<AttackResult, 'label' | 'clean' | 'adversarial'>): {
  kind: 'fooled' | 'held' | 'wrong';
  text: string;
} {
  const before = result.clean[0]?.index;
  const after = result.adversarial[0]?.index;
  if (before !== result.label) {
    return {
      kind: 'wrong',
      text: after === before ? 'misclassified already' : 'misclassified already; class changed',
    };
  }
  return after === result.label
    ? { kind: 'held', text: 'prediction held' }
    : { kind: 'fooled', text: 'fooled' };
}

/** The robustness curve as chart rows: eps on the x axis (the table's `step`), accuracy on y. */
export function curveTable(points: readonly { eps: number; accuracy: number }[]): MetricTable {
  const table = new MetricTable();
  const sorted = [...points].sort((a, b) => a.eps - b.eps);
  table.append(sorted.map((p) => ({ step: p.eps, accuracy: p.accuracy })));
  return table;
}

/** The body of `POST explain`: `target` null means the predicted class. */
export function explainRequestOf(
  index: number,
  method: string,
  target: number | null,
  smoothgrad: boolean,
): ExplainRequest {
  return { index, method, target, smoothgrad };
}

/** The body of `POST attack`: no eps and no curve for the minimum-norm attacks (CW, DeepFool). */
export function attackRequestOf(
  index: number,
  attack: string,
  eps: number,
  curve: boolean,
): AttackRequest {
  const bounded = attackTakesEps(attack);
  // a curve of accuracy vs eps exists only for the eps-bounded attacks
  const request: AttackRequest = { index, attack, curve: bounded && curve };
  if (bounded) {
    // the slider's steps are decimal: no 0.30000000000000004 sent
    request.eps = Math.round(eps / EPS_STEP) * EPS_STEP;
    request.eps = Number(request.eps.toFixed(4));
  }
  return request;
}

// --- React ----------------------------------------------------------------------------------------

export interface InspectViewProps {
  runId: string;
  settings?: ServerConnection.ISettings;
  /** the tab shown */
  tab: InspectTab;
  onTab: (tab: InspectTab) => void;
  /** the run's state as the runs list has it: a finished run's samples are fetched again if they failed */
  runState?: string;
}

type Samples = { page: SamplesPage | null; problem: Problem | null; loading: boolean };

/** Explain and Attack tabs over one run's test samples. */
export function InspectView(props: InspectViewProps): JSX.Element {
  const { runId, settings } = props;
  const parts = parseRunId(runId);
  const [count, setCount] = useState(SAMPLES_PAGE);
  const [samples, setSamples] = useState<Samples>({ page: null, problem: null, loading: true });
  const [selected, setSelected] = useState<number | null>(null);
  const [attempt, setAttempt] = useState(0);
  // a sample picked while a tab has a result re-runs that tab (set by the tab, read on a click)
  const rerun = useRef<{ explain?: (i: number) => void; attack?: (i: number) => void }>({});

  useEffect(() => {
    const controller = new AbortController();
    setSamples((s) => ({ ...s, loading: true }));
    getSamples(runId, count, settings, controller.signal)
      .then((page) => {
        setSamples({ page, problem: null, loading: false });
        setSelected((i) => (i !== null && i < page.total ? i : (page.samples[0]?.index ?? null)));
      })
      .catch((error) => {
        if (!controller.signal.aborted) {
          setSamples((s) => ({ ...s, problem: problemOf(error), loading: false }));
        }
      });
    return () => controller.abort();
  }, [runId, settings, count, attempt]);

  // the run finished (or was resumed and finished again) after its samples were refused: ask again
  useEffect(() => {
    if (props.runState === 'finished' && samples.problem) {
      setAttempt((a) => a + 1);
    }
  }, [props.runState]);

  const pick = (index: number) => {
    setSelected(index);
    rerun.current[props.tab]?.(index);
  };

  const page = samples.page;
  const sample = page?.samples.find((s) => s.index === selected) ?? null;

  return (
    <div className="dltoolkit-Inspect-body" data-testid="inspect" data-tab={props.tab}>
      <div className="dltoolkit-RunDetail-header">
        <h2 className="dltoolkit-RunDetail-title">
          {parts ? `${parts.model} · ${parts.data} · seed ${parts.seed}` : runId}
        </h2>
        <div className="dltoolkit-Tabs" role="tablist" aria-label="Inspect">
          {(['explain', 'attack'] as const).map((tab) => (
            <button
              key={tab}
              role="tab"
              aria-selected={props.tab === tab}
              className={'dltoolkit-Tab' + (props.tab === tab ? ' dltoolkit-mod-selected' : '')}
              data-testid={`inspect-tab-${tab}`}
              onClick={() => props.onTab(tab)}
            >
              {tab === 'explain' ? 'Explain' : 'Attack'}
            </button>
          ))}
        </div>
      </div>
      <div className="dltoolkit-Muted" title={runId}>
        {runId} · test images in pixel space [0, 1]
      </div>
      {samples.problem ? (
        <div className="dltoolkit-Error" role="alert" data-testid="inspect-errors">
          {samples.problem.message}
          <div>
            <button
              className="dltoolkit-Button dltoolkit-mod-small"
              onClick={() => setAttempt((a) => a + 1)}
            >
              Retry
            </button>
          </div>
        </div>
      ) : null}
      <div className="dltoolkit-Inspect-layout">
        <SampleGrid
          samples={samples}
          selected={selected}
          onPick={pick}
          onMore={() => setCount((c) => Math.min(c + SAMPLES_PAGE, SAMPLES_MAX))}
        />
        <div className="dltoolkit-Inspect-main">
          {/* both tabs stay mounted: a result survives a look at the other tab */}
          <div hidden={props.tab !== 'explain'} role="tabpanel">
            <ExplainPanel
              runId={runId}
              settings={settings}
              page={page}
              sample={sample}
              register={(fn) => (rerun.current.explain = fn)}
            />
          </div>
          <div hidden={props.tab !== 'attack'} role="tabpanel">
            <AttackPanel
              runId={runId}
              settings={settings}
              page={page}
              sample={sample}
              register={(fn) => (rerun.current.attack = fn)}
            />
          </div>
        </div>
      </div>
    </div>
  );
}

function SampleGrid(props: {
  samples: Samples;
  selected: number | null;
  onPick: (index: number) => void;
  onMore: () => void;
}): JSX.Element {
  const { page, loading } = props.samples;
  const [wrongOnly, setWrongOnly] = useState(false);
  const shown = (page?.samples ?? []).filter((s) => !wrongOnly || s.label !== s.predicted);
  const wrong = (page?.samples ?? []).filter((s) => s.label !== s.predicted).length;
  const canMore = !!page && page.samples.length < Math.min(page.total, SAMPLES_MAX);
  const className = (i: number) => page?.classes[i] ?? String(i);
  return (
    <div className="dltoolkit-Inspect-samples">
      <div className="dltoolkit-Inspect-samplesHeader">
        <span>
          Test samples{' '}
          <span className="dltoolkit-Muted">
            {page ? `${page.samples.length} of ${page.total} · ${wrong} misclassified` : ''}
          </span>
        </span>
        <label className="dltoolkit-Check">
          <input
            type="checkbox"
            checked={wrongOnly}
            data-testid="inspect-wrong-only"
            onChange={(e) => setWrongOnly(e.currentTarget.checked)}
          />
          misclassified only
        </label>
      </div>
      <div
        className="dltoolkit-Inspect-grid"
        data-testid="inspect-samples"
        aria-busy={loading}
        aria-label="Test samples"
      >
        {shown.map((s) => (
          <SampleButton
            key={s.index}
            sample={s}
            selected={s.index === props.selected}
            className={className}
            onPick={props.onPick}
          />
        ))}
        {page && shown.length === 0 ? (
          <div className="dltoolkit-Muted">No misclassified sample among these.</div>
        ) : null}
        {!page && loading ? <div className="dltoolkit-Muted">Loading the test samples…</div> : null}
      </div>
      {canMore ? (
        <button
          className="dltoolkit-Button dltoolkit-mod-small"
          data-testid="inspect-more"
          disabled={loading}
          onClick={props.onMore}
        >
          {loading ? 'Loading…' : 'More samples'}
        </button>
      ) : null}
    </div>
  );
}

function SampleButton(props: {
  sample: Sample;
  selected: boolean;
  className: (i: number) => string;
  onPick: (index: number) => void;
}): JSX.Element {
  const { sample: s, className } = props;
  const wrong = s.label !== s.predicted;
  const title = `#${s.index} · label ${className(s.label)} · predicted ${className(s.predicted)}`;
  return (
    <button
      className={
        'dltoolkit-Sample' +
        (props.selected ? ' dltoolkit-mod-selected' : '') +
        (wrong ? ' dltoolkit-mod-wrong' : '')
      }
      data-testid={`sample-${s.index}`}
      aria-pressed={props.selected}
      title={title}
      onClick={() => props.onPick(s.index)}
    >
      <img className="dltoolkit-Pixelated" src={s.image} alt={title} />
      <span className="dltoolkit-Sample-caption">
        {className(s.label)}
        {wrong ? <span className="dltoolkit-Sample-wrong">→{className(s.predicted)}</span> : null}
      </span>
    </button>
  );
}

interface PanelProps {
  runId: string;
  settings?: ServerConnection.ISettings;
  page: SamplesPage | null;
  sample: Sample | null;
  /** the panel's re-run on a newly picked sample (called only when it has shown a result) */
  register: (rerun: ((index: number) => void) | undefined) => void;
}

/** A tab's request: the newest one only, its busy state, its answer or its problem. */
function useLatest<T>(): {
  busy: boolean;
  result: T | null;
  problem: Problem | null;
  run: (call: (signal: AbortSignal) => Promise<T>) => void;
} {
  const latest = useRef(new LatestOnly());
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => () => latest.current.cancel(), []);
  const run = useCallback((call: (signal: AbortSignal) => Promise<T>) => {
    setBusy(true);
    setProblem(null);
    latest.current.run(call).then(
      (value) => {
        if (value !== SUPERSEDED) {
          setResult(value as T);
          setBusy(false);
        }
      },
      (error) => {
        setProblem(problemOf(error));
        setBusy(false);
      },
    );
  }, []);
  return { busy, result, problem, run };
}

/**
 * A panel's request on a sample (`useLatest`), sent with the panel's settings of the moment it runs,
 * so that a re-run on a newly picked sample uses the current ones; offered for such re-runs
 * (`register`) once the panel shows a result or is computing one.
 */
function useSampleAction<S, T>(
  props: PanelProps,
  current: S,
  send: (index: number, settings: S, signal: AbortSignal) => Promise<T>,
): ReturnType<typeof useLatest<T>> & { act: (index: number) => void } {
  const latest = useLatest<T>();
  const { busy, result, run } = latest;
  const now = useRef({ current, send });
  now.current = { current, send };
  const act = useCallback(
    (index: number) => run((signal) => now.current.send(index, now.current.current, signal)),
    [run],
  );
  const shown = result !== null || busy;
  useEffect(() => {
    props.register(shown ? act : undefined);
  }, [shown, act]);
  return { ...latest, act };
}

function FieldError(props: { problem: Problem | null; field: string; testid: string }) {
  const message = props.problem?.fields[props.field];
  return message ? (
    <div className="dltoolkit-FieldError" role="alert" data-testid={props.testid}>
      {message}
    </div>
  ) : null;
}

function ProblemBox(props: { problem: Problem | null; placed: readonly string[] }) {
  const { problem } = props;
  if (!problem) {
    return null;
  }
  const fielded = Object.keys(problem.fields).length > 0;
  const rest = unplacedErrors(problem.fields, props.placed);
  if (fielded && !rest.length) {
    return null; // every message is beside its control
  }
  return (
    <div className="dltoolkit-Error" role="alert" data-testid="inspect-errors">
      {problem.message}
      {rest.length ? (
        <ul>
          {rest.map(([field, message]) => (
            <li key={field}>{field ? `${field}: ${message}` : message}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function Busy(props: { busy: boolean; testid: string; children: React.ReactNode }) {
  return props.busy ? (
    <span className="dltoolkit-Busy" role="status" data-testid={props.testid}>
      <span className="dltoolkit-Spinner" aria-hidden="true" />
      {props.children}
    </span>
  ) : null;
}

/** A labelled select of a panel, its server error (by field) below it. Test ids: `testid` (default
 * `<tab>-<field>`) and `<tab>-error-<field>`. */
function SelectControl(props: {
  label: string;
  tab: InspectTab;
  field: string;
  testid?: string;
  value: string;
  problem: Problem | null;
  onChange: (value: string) => void;
  children: React.ReactNode;
}): JSX.Element {
  const { tab, field, problem } = props;
  return (
    <label className="dltoolkit-Control">
      <span className="dltoolkit-Control-label">{props.label}</span>
      <select
        className="dltoolkit-Select"
        data-testid={props.testid ?? `${tab}-${field}`}
        value={props.value}
        aria-invalid={!!problem?.fields[field]}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      >
        {props.children}
      </select>
      <FieldError problem={problem} field={field} testid={`${tab}-error-${field}`} />
    </label>
  );
}

/** A panel's button (`<tab>-run`), on the picked sample, and what it is doing while busy. */
function RunButton(props: {
  tab: InspectTab;
  label: string;
  sample: Sample | null;
  onRun: (index: number) => void;
  busy: boolean;
  children: React.ReactNode;
}): JSX.Element {
  const { sample } = props;
  return (
    <>
      <button
        className="dltoolkit-Button dltoolkit-mod-accept"
        data-testid={`${props.tab}-run`}
        disabled={!sample}
        onClick={() => sample && props.onRun(sample.index)}
      >
        {props.label}
      </button>
      <Busy busy={props.busy} testid={`${props.tab}-busy`}>
        {props.children}
      </Busy>
    </>
  );
}

/** Under a panel's controls: what the choice does, the problems not shown beside a control, then the
 * result (`children`) or what to do to get one. */
function PanelOutcome(props: {
  tab: InspectTab;
  about?: string;
  problem: Problem | null;
  placed: readonly string[];
  sample: Sample | null;
  verb: string;
  children: React.ReactNode;
}): JSX.Element {
  const { sample } = props;
  return (
    <>
      <div className="dltoolkit-Muted">{props.about}</div>
      <FieldError problem={props.problem} field="index" testid={`${props.tab}-error-index`} />
      <ProblemBox problem={props.problem} placed={props.placed} />
      {props.children ?? (
        <div className="dltoolkit-Muted dltoolkit-Inspect-empty">
          {sample
            ? `Sample #${sample.index} is picked: press ${props.verb}, or pick another on the left.`
            : 'Pick a sample on the left.'}
        </div>
      )}
    </>
  );
}

function classLabel(page: SamplesPage | null, i: number): string {
  return page?.classes[i] ?? String(i);
}

function ExplainPanel(props: PanelProps): JSX.Element {
  const { runId, settings, page, sample } = props;
  const [method, setMethod] = useState<string>('integrated_gradients');
  const [target, setTarget] = useState<string>(''); // '': the predicted class
  const [smoothgrad, setSmoothgrad] = useState(false);
  const classes = page?.classes ?? [];
  const {
    busy,
    result,
    problem,
    act: explain,
  } = useSampleAction<{ method: string; target: string; smoothgrad: boolean }, ExplainResult>(
    props,
    { method, target, smoothgrad },
    (index, s, signal) => {
      const explained = s.target === '' ? null : Number(s.target);
      const request = explainRequestOf(index, s.method, explained, s.smoothgrad);
      return explainRun(runId, request, settings, signal);
    },
  );

  return (
    <div className="dltoolkit-Inspect-panel">
      <div className="dltoolkit-Inspect-controls">
        <SelectControl
          label="Method"
          tab="explain"
          field="method"
          value={method}
          problem={problem}
          onChange={setMethod}
        >
          {EXPLAIN_METHODS.map((m) => (
            <option key={m} value={m}>
              {METHOD_INFO[m]?.label ?? m}
            </option>
          ))}
        </SelectControl>
        <SelectControl
          label="Target class"
          tab="explain"
          field="target"
          value={target}
          problem={problem}
          onChange={setTarget}
        >
          <option value="">
            predicted{sample ? ` (${classLabel(page, sample.predicted)})` : ''}
          </option>
          {classes.map((c, i) => (
            <option key={i} value={String(i)}>
              {c}
              {sample && i === sample.label ? ' (true label)' : ''}
            </option>
          ))}
        </SelectControl>
        <label className="dltoolkit-Check" title="Average the attributions of noisy copies">
          <input
            type="checkbox"
            data-testid="explain-smoothgrad"
            checked={smoothgrad}
            onChange={(e) => setSmoothgrad(e.currentTarget.checked)}
          />
          SmoothGrad
        </label>
        <RunButton tab="explain" label="Explain" sample={sample} onRun={explain} busy={busy}>
          Explaining sample #{sample?.index}…
        </RunButton>
      </div>
      <PanelOutcome
        tab="explain"
        about={METHOD_INFO[method]?.about}
        problem={problem}
        placed={['method', 'target', 'index']}
        sample={sample}
        verb="Explain"
      >
        {result ? <ExplainView result={result} page={page} busy={busy} /> : null}
      </PanelOutcome>
    </div>
  );
}

function ExplainView(props: {
  result: ExplainResult;
  page: SamplesPage | null;
  busy: boolean;
}): JSX.Element {
  const { result: r, page } = props;
  const predicted = r.top[0]?.index;
  return (
    <div
      className={'dltoolkit-Inspect-result' + (props.busy ? ' dltoolkit-mod-busy' : '')}
      data-testid="explain-result"
      data-index={r.index}
      data-method={r.method}
      aria-busy={props.busy}
    >
      <div className="dltoolkit-Inspect-facts" data-testid="explain-facts">
        <span>sample #{r.index}</span>
        <span>label {classLabel(page, r.label)}</span>
        <span>
          explained class <b>{classLabel(page, r.target)}</b>
          {r.target === predicted ? ' (predicted)' : ''}
        </span>
        <span>{METHOD_INFO[r.method]?.label ?? r.method}</span>
        <span data-testid="explain-seconds">{formatSeconds(r.seconds)}</span>
      </div>
      <div className="dltoolkit-Inspect-figures">
        <Figure src={r.image} caption="input" testid="explain-image" />
        <Figure
          src={r.overlay}
          caption="attribution over the input"
          testid="explain-overlay"
          large
        />
        <Figure src={r.heatmap} caption="attribution (magnitude)" testid="explain-heatmap" />
        <div className="dltoolkit-Inspect-topBox">
          <div className="dltoolkit-Inspect-caption">top classes</div>
          <TopClasses top={r.top} label={r.label} mark={r.target} testid="explain-top" />
        </div>
      </div>
    </div>
  );
}

function Figure(props: {
  src: string;
  caption: React.ReactNode;
  testid: string;
  large?: boolean;
}): JSX.Element {
  return (
    <figure className={'dltoolkit-Figure' + (props.large ? ' dltoolkit-mod-large' : '')}>
      <img
        className="dltoolkit-Pixelated"
        src={props.src}
        alt={typeof props.caption === 'string' ? props.caption : ''}
        data-testid={props.testid}
      />
      <figcaption>{props.caption}</figcaption>
    </figure>
  );
}

/** The top classes as bars; the true label in green, `mark` (the class explained) in bold. */
function TopClasses(props: {
  top: TopClass[];
  label: number;
  mark?: number;
  testid: string;
}): JSX.Element {
  return (
    <ol className="dltoolkit-Top" data-testid={props.testid}>
      {props.top.map((t) => (
        <li
          key={t.index}
          className={
            'dltoolkit-Top-row' +
            (t.index === props.label ? ' dltoolkit-mod-label' : '') +
            (t.index === props.mark ? ' dltoolkit-mod-mark' : '')
          }
          title={t.index === props.label ? 'the true label' : undefined}
        >
          <span className="dltoolkit-Top-class">{t.class}</span>
          <span className="dltoolkit-Top-bar">
            <span
              className="dltoolkit-Top-fill"
              style={{ width: `${Math.max(0, Math.min(1, t.probability)) * 100}%` }}
            />
          </span>
          <span className="dltoolkit-Top-value">{formatPercent(t.probability)}</span>
        </li>
      ))}
    </ol>
  );
}

function AttackPanel(props: PanelProps): JSX.Element {
  const { runId, settings, page, sample } = props;
  const [attack, setAttack] = useState<string>('pgd');
  const [eps, setEps] = useState(0.1);
  const [curve, setCurve] = useState(true);
  const bounded = attackTakesEps(attack);
  const {
    busy,
    result,
    problem,
    act: go,
  } = useSampleAction<{ attack: string; eps: number; curve: boolean }, AttackResult>(
    props,
    { attack, eps, curve },
    (index, s, signal) =>
      attackRun(runId, attackRequestOf(index, s.attack, s.eps, s.curve), settings, signal),
  );

  return (
    <div className="dltoolkit-Inspect-panel">
      <div className="dltoolkit-Inspect-controls">
        <SelectControl
          label="Attack"
          tab="attack"
          field="attack"
          testid="attack-name"
          value={attack}
          problem={problem}
          onChange={setAttack}
        >
          {ATTACKS.map((a) => (
            <option key={a} value={a}>
              {ATTACK_INFO[a]?.label ?? a}
            </option>
          ))}
        </SelectControl>
        <label
          className={'dltoolkit-Control' + (bounded ? '' : ' dltoolkit-mod-disabled')}
          title={bounded ? 'the L∞ budget: how far any pixel may move' : 'this attack has no eps'}
        >
          <span className="dltoolkit-Control-label">eps (L∞)</span>
          <span className="dltoolkit-Slider">
            <input
              type="range"
              min={0}
              max={EPS_MAX}
              step={EPS_STEP}
              value={eps}
              disabled={!bounded}
              data-testid="attack-eps"
              aria-valuetext={bounded ? formatEps(eps) : 'not used by this attack'}
              aria-invalid={!!problem?.fields.eps}
              onChange={(e) => setEps(Number(e.currentTarget.value))}
            />
            <output data-testid="attack-eps-value">{bounded ? formatEps(eps) : 'no eps'}</output>
          </span>
          <FieldError problem={problem} field="eps" testid="attack-error-eps" />
        </label>
        <label
          className={'dltoolkit-Check' + (bounded ? '' : ' dltoolkit-mod-disabled')}
          title="Also the accuracy on the first 64 test images as eps grows (takes longer)"
        >
          <input
            type="checkbox"
            data-testid="attack-curve-toggle"
            checked={curve && bounded}
            disabled={!bounded}
            onChange={(e) => setCurve(e.currentTarget.checked)}
          />
          robustness curve
        </label>
        <RunButton tab="attack" label="Attack" sample={sample} onRun={go} busy={busy}>
          Attacking sample #{sample?.index}
          {curve && bounded ? ' and drawing the curve' : ''}…
        </RunButton>
      </div>
      <PanelOutcome
        tab="attack"
        about={ATTACK_INFO[attack]?.about}
        problem={problem}
        placed={['attack', 'eps', 'index']}
        sample={sample}
        verb="Attack"
      >
        {result ? <AttackView result={result} page={page} busy={busy} /> : null}
      </PanelOutcome>
    </div>
  );
}

function Prediction(props: { top: TopClass[]; label: number; testid: string }): JSX.Element {
  const first = props.top[0];
  if (!first) {
    return <span>–</span>;
  }
  const right = first.index === props.label;
  return (
    <span
      className={'dltoolkit-Prediction' + (right ? '' : ' dltoolkit-mod-wrong')}
      data-testid={props.testid}
      data-class={first.index}
    >
      <b>{first.class}</b> · {formatPercent(first.probability)}
      {right ? '' : ' ✗'}
    </span>
  );
}

function AttackView(props: {
  result: AttackResult;
  page: SamplesPage | null;
  busy: boolean;
}): JSX.Element {
  const { result: r, page } = props;
  const table = useMemo(() => (r.curve ? curveTable(r.curve) : null), [r]);
  const verdict = attackVerdict(r);
  const name = ATTACK_INFO[r.attack]?.label ?? r.attack;
  return (
    <div
      className={'dltoolkit-Inspect-result' + (props.busy ? ' dltoolkit-mod-busy' : '')}
      data-testid="attack-result"
      data-index={r.index}
      data-attack={r.attack}
      aria-busy={props.busy}
    >
      <div className="dltoolkit-Inspect-facts">
        <span>sample #{r.index}</span>
        <span>label {classLabel(page, r.label)}</span>
        <span>{name}</span>
        {r.eps !== null ? <span>eps {r.eps.toFixed(3)}</span> : null}
        <span data-testid="attack-linf" data-linf={r.linf}>
          ‖δ‖∞ = {r.linf.toFixed(4)}
          {r.eps !== null ? ` (≤ ${r.eps.toFixed(3)})` : ''}
        </span>
        <span className={`dltoolkit-Verdict-${verdict.kind}`} data-testid="attack-verdict">
          {verdict.text}
        </span>
        <span data-testid="attack-seconds">{formatSeconds(r.seconds)}</span>
      </div>
      <div className="dltoolkit-Inspect-figures">
        <Figure
          src={r.images.original}
          testid="attack-original"
          caption={
            <>
              original
              <br />
              <Prediction top={r.clean} label={r.label} testid="attack-clean-prediction" />
            </>
          }
          large
        />
        <Figure
          src={r.images.adversarial}
          testid="attack-adversarial"
          caption={
            <>
              adversarial
              <br />
              <Prediction
                top={r.adversarial}
                label={r.label}
                testid="attack-adversarial-prediction"
              />
            </>
          }
          large
        />
        <Figure
          src={r.images.perturbation}
          testid="attack-perturbation"
          caption={
            <>
              perturbation δ
              <br />
              <span className="dltoolkit-Muted">grey 0, scaled to ±{r.linf.toFixed(3)}</span>
            </>
          }
          large
        />
      </div>
      <div className="dltoolkit-Inspect-tops">
        <div>
          <div className="dltoolkit-Inspect-caption">before</div>
          <TopClasses top={r.clean} label={r.label} testid="attack-clean-top" />
        </div>
        <div>
          <div className="dltoolkit-Inspect-caption">after</div>
          <TopClasses top={r.adversarial} label={r.label} testid="attack-adversarial-top" />
        </div>
      </div>
      {table ? (
        <div className="dltoolkit-Inspect-curve" data-testid="attack-curve">
          <Chart
            table={table}
            version={table.version}
            metrics={['accuracy']}
            title={`accuracy vs eps · ${name}`}
            height={200}
            xLabel="eps (L∞ budget)"
          />
          <div className="dltoolkit-Muted">
            accuracy under {name} on the first test images (up to 64)
          </div>
        </div>
      ) : r.eps === null ? (
        <div className="dltoolkit-Muted">
          {name} searches for the smallest perturbation: no accuracy-vs-eps curve.
        </div>
      ) : null}
    </div>
  );
}
