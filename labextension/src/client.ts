/**
 * The sidebar's only door to the server: typed calls of dltoolkit's REST API
 * (`<base_url>dltoolkit/api/…`, see `GET openapi.json`), all through `ServerConnection.makeRequest`,
 * so that the token, the XSRF cookie and the page's base URL (JupyterHub, proxies) are honoured.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

// --- the server's JSON ----------------------------------------------------------------------------

/** A JSON schema as the catalog and the OpenAPI document give it (draft 7, plain objects). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JSONSchema = { [key: string]: any };

export interface CatalogTopic {
  key: string;
  title: string;
  models: string[];
}

export interface QualityTarget {
  metric: string;
  threshold: number;
  max_epochs: number;
  max_seconds: number;
  mode: 'max' | 'min';
}

export interface CatalogModel {
  name: string;
  topic: string;
  description: string;
  class_path: string;
  /** the default data module's name */
  data: string;
  /** the model's options for its default data module (on top of the data module's defaults) */
  data_defaults: { [key: string]: unknown };
  target: QualityTarget | null;
  /** Trainer options the model trains best with (`{accelerator: 'cpu'}` for an agent): the form's defaults */
  trainer?: { [key: string]: unknown };
  /** the hyperparameter JSON schema, derived from the LightningModule's `__init__` */
  schema: JSONSchema;
}

export interface CatalogData {
  name: string;
  description: string;
  schema: JSONSchema;
}

/** `GET catalog` (`dltoolkit.catalog.describe_catalog()`). */
export interface Catalog {
  topics: CatalogTopic[];
  models: CatalogModel[];
  data: CatalogData[];
}

export type RunState = 'queued' | 'running' | 'finished' | 'failed' | 'stopped' | 'interrupted';
export const ACTIVE_STATES: readonly RunState[] = ['queued', 'running'];
export const FINAL_STATES: readonly RunState[] = ['finished', 'failed', 'stopped', 'interrupted'];

export function isActive(state: string | undefined): boolean {
  return (ACTIVE_STATES as readonly string[]).includes(state ?? '');
}

export function isFinal(state: string | undefined): boolean {
  return (FINAL_STATES as readonly string[]).includes(state ?? '');
}

/** A run's `status.json` plus its id (`Run.status()`). */
export interface RunStatus {
  run_id: string;
  state: RunState;
  epoch?: number;
  max_epochs?: number | null;
  step?: number;
  total_steps?: number | null;
  eta_seconds?: number | null;
  best?: { metric: string; value: number } | null;
  /** seconds since the epoch */
  updated_at?: number;
  pid?: number | null;
  /** failed: the exception, one line */
  error?: string;
  /** failed: the traceback's tail */
  traceback?: string;
}

/** `GET runs/{id}`: the status, the config and the command that reproduces the run. */
export interface RunDetail extends RunStatus {
  config: { [key: string]: unknown };
  config_yaml: string;
  command: string;
}

/** One row of `metrics.csv`: `step`, `epoch`, `time` and the logged metrics (empty cells left out). */
export type MetricRow = { [column: string]: number };

/** `GET runs/{id}/metrics?since=N`, and the data of an SSE `metrics` event. */
export interface MetricsPage {
  rows: MetricRow[];
  /** the `since` to ask for next */
  next: number;
  /** (live stream only) the run's metrics started over: `rows` are all of them, from the first */
  reset?: boolean;
}

/** `GET runs/{id}/logs?tail=N` */
export interface LogsPage {
  text: string;
}

export type LoggerName = 'tensorboard' | 'mlflow';

/** `POST runs` (the server's `LAUNCH_SCHEMA`). */
export interface LaunchRequest {
  model: string;
  /** null or absent: the model's default data */
  data?: string | null;
  model_args?: { [key: string]: unknown };
  data_args?: { [key: string]: unknown };
  trainer_args?: { [key: string]: unknown };
  seed?: number;
  loggers?: LoggerName[];
}

/** Any answer that is not a success, as the server's JSON `{code, message, errors?}`. */
export class ApiError extends Error {
  /** the HTTP status; 0 when the server could not be reached */
  readonly status: number;
  /** per-field problems of a launch request, keyed like `model_args.dropout` or `model` */
  readonly errors?: Record<string, string>;

  constructor(status: number, message: string, errors?: Record<string, string>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.errors = errors;
  }
}

// --- requests -------------------------------------------------------------------------------------

let defaultSettings: ServerConnection.ISettings | undefined;

function serverSettings(settings?: ServerConnection.ISettings): ServerConnection.ISettings {
  if (settings) {
    return settings;
  }
  defaultSettings ??= ServerConnection.makeSettings();
  return defaultSettings;
}

/** The URL of an API path (`runs/ID/metrics?since=3`) under the server's base URL. */
export function apiUrl(path: string, settings?: ServerConnection.ISettings): string {
  return URLExt.join(serverSettings(settings).baseUrl, 'dltoolkit', 'api', path);
}

async function send(
  path: string,
  init: RequestInit,
  settings?: ServerConnection.ISettings,
): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      apiUrl(path, settings),
      init,
      serverSettings(settings),
    );
  } catch (error) {
    // ServerConnection wraps every fetch failure in a NetworkError, an abort included
    if (init.signal?.aborted) {
      throw new DOMException('the request was aborted', 'AbortError');
    }
    if (error instanceof DOMException && error.name === 'AbortError') {
      throw error;
    }
    const cause = error instanceof Error ? error.message : String(error);
    throw new ApiError(0, `the Jupyter server could not be reached: ${cause}`);
  }
  if (!response.ok) {
    throw await errorOf(response);
  }
  return response;
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let message = text.trim() || response.statusText || `HTTP ${response.status}`;
  let errors: Record<string, string> | undefined;
  try {
    const body = JSON.parse(text);
    if (body && typeof body === 'object') {
      message = String(body.message ?? body.reason ?? message);
      if (body.errors && typeof body.errors === 'object') {
        errors = body.errors;
      }
    }
  } catch {
    // not JSON (a proxy's page): keep the text
  }
  return new ApiError(response.status, message, errors);
}

/**
 * Call `<base_url>dltoolkit/api/<path>` and parse its JSON answer (`undefined` for a 204);
 * any other status throws an `ApiError`.
 */
export async function requestAPI<T>(
  path = '',
  init: RequestInit = {},
  settings?: ServerConnection.ISettings,
): Promise<T> {
  const response = await send(path, init, settings);
  if (response.status === 204) {
    return undefined as T;
  }
  const text = await response.text();
  if (!text) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, `the server's answer is not JSON: ${text.slice(0, 200)}`);
  }
}

function runPath(id: string, ...rest: string[]): string {
  return ['runs', encodeURIComponent(id), ...rest].join('/');
}

export function getCatalog(settings?: ServerConnection.ISettings): Promise<Catalog> {
  return requestAPI<Catalog>('catalog', {}, settings);
}

/** The OpenAPI document of the API (its `POST runs` body is the launch schema). */
export function getOpenAPI(settings?: ServerConnection.ISettings): Promise<JSONSchema> {
  return requestAPI<JSONSchema>('openapi.json', {}, settings);
}

/** The JSON schema of `POST runs` (`LAUNCH_SCHEMA`) inside an OpenAPI document. */
export function launchSchemaOf(openapi: JSONSchema): JSONSchema | undefined {
  return openapi?.paths?.['/dltoolkit/api/runs']?.post?.requestBody?.content?.['application/json']
    ?.schema;
}

/** Every run's status, newest first. */
export async function listRuns(settings?: ServerConnection.ISettings): Promise<RunStatus[]> {
  const answer = await requestAPI<{ runs: RunStatus[] }>('runs', {}, settings);
  return answer.runs;
}

export function getRun(id: string, settings?: ServerConnection.ISettings): Promise<RunDetail> {
  return requestAPI<RunDetail>(runPath(id), {}, settings);
}

/** Launch a run: its first status (201), or an `ApiError` whose `errors` are keyed by field (400). */
export function launchRun(
  request: LaunchRequest,
  settings?: ServerConnection.ISettings,
): Promise<RunStatus> {
  return requestAPI<RunStatus>('runs', { method: 'POST', body: JSON.stringify(request) }, settings);
}

/** A graceful stop; answers once the run has stopped. */
export function stopRun(id: string, settings?: ServerConnection.ISettings): Promise<RunStatus> {
  return requestAPI<RunStatus>(runPath(id, 'stop'), { method: 'POST' }, settings);
}

/** Resume from the last checkpoint (409 while the run is running). */
export function resumeRun(id: string, settings?: ServerConnection.ISettings): Promise<RunStatus> {
  return requestAPI<RunStatus>(runPath(id, 'resume'), { method: 'POST' }, settings);
}

/** Remove a run that is not running (204; 409 while it runs). */
export async function deleteRun(id: string, settings?: ServerConnection.ISettings): Promise<void> {
  await requestAPI<void>(runPath(id), { method: 'DELETE' }, settings);
}

/** Metric rows from row `since` on, and the `since` to ask for next. */
export function getMetrics(
  id: string,
  since = 0,
  settings?: ServerConnection.ISettings,
): Promise<MetricsPage> {
  return requestAPI<MetricsPage>(runPath(id, `metrics?since=${since}`), {}, settings);
}

/** The last `tail` lines of the training process's output. */
export function getLogs(
  id: string,
  tail = 200,
  settings?: ServerConnection.ISettings,
): Promise<LogsPage> {
  return requestAPI<LogsPage>(runPath(id, `logs?tail=${tail}`), {}, settings);
}

// --- looking inside a trained model: samples, explanations, attacks -------------------------------

/** The attribution methods of `POST runs/{id}/explain` (`dltoolkit.explain.METHODS`). */
export const EXPLAIN_METHODS = [
  'integrated_gradients',
  'saliency',
  'deeplift',
  'gradient_shap',
  'occlusion',
  'guided_backprop',
  'grad_cam',
  'layer_conductance',
] as const;
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];

/** The attacks of `POST runs/{id}/attack` (`dltoolkit.robustness.ATTACKS`). */
export const ATTACKS = ['fgsm', 'pgd', 'mifgsm', 'cw', 'deepfool', 'square', 'autoattack'] as const;
export type AttackName = (typeof ATTACKS)[number];

/** The minimum-norm L2 attacks: they search for the smallest perturbation and take no eps. */
export const UNBOUNDED_ATTACKS: readonly string[] = ['cw', 'deepfool'];

/** Whether an attack is bounded by an L∞ budget `eps` (all but CW and DeepFool). */
export function attackTakesEps(attack: string): boolean {
  return !UNBOUNDED_ATTACKS.includes(attack);
}

/** One test image of a run's data (`ModelInspector.samples`). */
export interface Sample {
  index: number;
  /** the true class (an index into `classes`) */
  label: number;
  /** the model's class */
  predicted: number;
  /** a PNG data URL (the image in pixel space, [0, 1]) */
  image: string;
}

/** `GET runs/{id}/samples?count=N`: the first test images, and how many there are. */
export interface SamplesPage {
  classes: string[];
  /** test samples available (indices `0 … total-1`) */
  total: number;
  samples: Sample[];
}

/** One of the top classes of a prediction. */
export interface TopClass {
  class: string;
  index: number;
  probability: number;
}

/** `POST runs/{id}/explain` (the server's `EXPLAIN_SCHEMA`). */
export interface ExplainRequest {
  index: number;
  method?: string;
  /** the class explained; null or absent: the predicted one */
  target?: number | null;
  smoothgrad?: boolean;
}

/** `ModelInspector.explain`: the images are PNG data URLs. */
export interface ExplainResult {
  index: number;
  label: number;
  method: string;
  /** the class explained */
  target: number;
  top: TopClass[];
  image: string;
  overlay: string;
  heatmap: string;
  seconds: number;
}

/** `POST runs/{id}/attack` (the server's `ATTACK_SCHEMA`). */
export interface AttackRequest {
  index: number;
  attack?: string;
  /** the L∞ budget in pixel units, [0, 1]; not for CW and DeepFool */
  eps?: number;
  /** also the accuracy vs eps on the first test images */
  curve?: boolean;
}

export interface CurvePoint {
  eps: number;
  accuracy: number;
}

/** `ModelInspector.attack`: predictions before and after, the images as PNG data URLs. */
export interface AttackResult {
  index: number;
  label: number;
  attack: string;
  /** null for the minimum-norm attacks */
  eps: number | null;
  clean: TopClass[];
  adversarial: TopClass[];
  /** the perturbation's largest pixel change */
  linf: number;
  images: { original: string; adversarial: string; perturbation: string };
  curve: CurvePoint[] | null;
  seconds: number;
}

/** The first `count` test images of a finished run, with labels and predictions (409 while it trains). */
export function getSamples(
  id: string,
  count = 24,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<SamplesPage> {
  return requestAPI<SamplesPage>(runPath(id, `samples?count=${count}`), { signal }, settings);
}

/**
 * Attributions of one test sample; an `ApiError` whose `errors` are keyed by field (400: e.g.
 * `method` for Grad-CAM on a model without convolutions), or 409 while the run trains.
 */
export function explainRun(
  id: string,
  request: ExplainRequest,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<ExplainResult> {
  return requestAPI<ExplainResult>(
    runPath(id, 'explain'),
    { method: 'POST', body: JSON.stringify(request), signal },
    settings,
  );
}

/** An adversarial example of one test sample and, with `curve`, the accuracy vs eps. */
export function attackRun(
  id: string,
  request: AttackRequest,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<AttackResult> {
  return requestAPI<AttackResult>(
    runPath(id, 'attack'),
    { method: 'POST', body: JSON.stringify(request), signal },
    settings,
  );
}

// --- deploying a trained model: ONNX export, a model server ----------------------------------------

/** `POST runs/{id}/onnx` (`dltoolkit.deploy.run_actions.export_run_onnx`): the export in the run folder. */
export interface OnnxExport {
  run_id: string;
  /** the file's path on the Jupyter server's machine (`<run>/export/model.onnx`) */
  file: string;
  /** the download's name, `<run id>.onnx` */
  filename: string;
  bytes: number;
  opset: number;
  /** the largest |ONNX Runtime − PyTorch| on the verification inputs */
  max_abs_diff: number;
  tolerance: number;
  verified_batch_sizes: number[];
  /** e.g. "64 test samples" */
  verified_on: string;
  /** one input's shape, e.g. [1, 8, 8] */
  input_shape: number[];
  /** seconds since the epoch */
  exported_at: number;
  /** true: the checkpoint had not changed, the existing export was answered */
  reused: boolean;
}

/** `GET`/`POST`/`DELETE runs/{id}/serve`: a run's model server (`RunServer.describe()`), if any. */
export interface ServeState {
  /** true once the server answers ready */
  serving: boolean;
  run_id: string;
  /** started, not ready yet (a `POST` waits for it) */
  starting?: boolean;
  /** the model's name in the URLs */
  name?: string;
  pid?: number;
  host?: string;
  port?: number;
  /** the server's root, on the Jupyter server's machine: `http://127.0.0.1:PORT` */
  url?: string;
  /** TF Serving REST: `POST {"instances": [...]}` */
  predict_url?: string;
  /** KServe v2 / Open Inference: `POST {"inputs": [...]}` */
  infer_url?: string;
  health_url?: string;
  input_shape?: number[] | null;
  /** a shell command that sends one all-zero instance to `predict_url` */
  example?: string | null;
  /** the server's output (`<run>/serve.log`) */
  log?: string;
  started_at?: number;
  /** a server that died: its exit code and the tail of its log */
  exit_code?: number | null;
  log_tail?: string;
}

/**
 * Export a finished run's last checkpoint to ONNX (checked against PyTorch), or get the export already
 * made from the same checkpoint; 409 while it trains, without a checkpoint, or for a model that cannot
 * be exported (the message says why).
 */
export function exportOnnx(
  id: string,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<OnnxExport> {
  return requestAPI<OnnxExport>(runPath(id, 'onnx'), { method: 'POST', signal }, settings);
}

/**
 * The exported `.onnx` file as a Blob, fetched with the token like every call (a plain link could not
 * send it); offer it with `URL.createObjectURL`. 404 before an export.
 */
export async function downloadOnnx(
  id: string,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<Blob> {
  const response = await send(runPath(id, 'onnx'), { signal }, settings);
  return response.blob();
}

/** Whether the run is served, and where (or how its server died). */
export function getServeState(
  id: string,
  settings?: ServerConnection.ISettings,
): Promise<ServeState> {
  return requestAPI<ServeState>(runPath(id, 'serve'), {}, settings);
}

/**
 * Serve a finished run's model (`dltoolkit serve` on a free port of the Jupyter server's machine);
 * answers once the server is ready, or with the server already running. A server that does not start
 * is a 409 whose message ends with its log's tail.
 */
export function startServing(
  id: string,
  settings?: ServerConnection.ISettings,
  signal?: AbortSignal,
): Promise<ServeState> {
  return requestAPI<ServeState>(runPath(id, 'serve'), { method: 'POST', signal }, settings);
}

/** Stop the run's model server (nothing to do if there is none). */
export function stopServing(
  id: string,
  settings?: ServerConnection.ISettings,
): Promise<ServeState> {
  return requestAPI<ServeState>(runPath(id, 'serve'), { method: 'DELETE' }, settings);
}

// --- server-sent events ---------------------------------------------------------------------------

export interface SSEEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser of `text/event-stream` (the WHATWG rules): feed it text as it arrives, in
 * chunks split anywhere, and it returns the events completed so far.
 */
export class SSEParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private pendingCR = false;

  feed(chunk: string): SSEEvent[] {
    const events: SSEEvent[] = [];
    let text = chunk;
    if (this.pendingCR) {
      // a "\r\n" split between two chunks: the "\r" already ended the line
      this.pendingCR = false;
      if (text.startsWith('\n')) {
        text = text.slice(1);
      }
    }
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') {
        continue;
      }
      const line = this.buffer.slice(start, i);
      if (c === '\r') {
        if (i + 1 === this.buffer.length) {
          this.pendingCR = true;
        } else if (this.buffer[i + 1] === '\n') {
          i++;
        }
      }
      start = i + 1;
      const event = this.line(line);
      if (event) {
        events.push(event);
      }
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SSEEvent | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const event: SSEEvent = { event: this.event || 'message', data: this.data.join('\n') };
      if (this.id !== undefined) {
        event.id = this.id;
      }
      this.event = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) {
      return undefined; // a comment (keep-alive)
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this.event = value;
    } else if (field === 'data') {
      this.data.push(value);
    } else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
    }
    return undefined;
  }
}

export interface WatchHandlers {
  /** a status change (the first one on every connection) */
  status?: (status: RunStatus) => void;
  /** new metric rows; `next` is the `since` a reconnection asks for */
  metrics?: (page: MetricsPage) => void;
  /** a connection failed (the watcher retries unless the run is gone: 404) */
  error?: (error: ApiError) => void;
  /** the stream ended after a final state, or the run is gone (not called after `dispose()`) */
  done?: (last: RunStatus | undefined) => void;
}

/** What `watchRun` returns (a Lumino `IDisposable`). */
export interface Watcher {
  readonly isDisposed: boolean;
  dispose(): void;
}

export interface WatchOptions {
  /** the first wait before reconnecting, in ms (doubling up to `maxRetryMs`) */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * Follow a run live through `GET runs/{id}/events?since=N` (server-sent events read by a streaming
 * fetch, so the token and XSRF headers are sent): `status` and `metrics` events until a final state.
 * A stream that drops before then is reopened with `since` = the rows already received, so no row is
 * lost or repeated. Dispose the result to stop.
 */
export function watchRun(
  id: string,
  since: number,
  handlers: WatchHandlers,
  settings?: ServerConnection.ISettings,
  options: WatchOptions = {},
): Watcher {
  const retryMs = options.retryMs ?? 1000;
  const maxRetryMs = options.maxRetryMs ?? 10000;
  const controller = new AbortController();
  let disposed = false;
  let next = since;
  let last: RunStatus | undefined;
  let progressed = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      controller.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });

  const dispatch = (event: SSEEvent) => {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    progressed = true;
    if (event.event === 'status') {
      last = data as RunStatus;
      handlers.status?.(last);
    } else if (event.event === 'metrics') {
      const page = data as MetricsPage;
      next = page.next;
      handlers.metrics?.(page);
    }
  };

  const connect = async (): Promise<void> => {
    const response = await send(
      runPath(id, `events?since=${next}`),
      { signal: controller.signal, headers: { Accept: 'text/event-stream' } },
      settings,
    );
    const parser = new SSEParser();
    const decoder = new TextDecoder();
    if (!response.body) {
      parser.feed(await response.text()).forEach(dispatch);
      parser.feed('\n\n').forEach(dispatch);
      return;
    }
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      parser.feed(decoder.decode(value, { stream: true })).forEach(dispatch);
    }
    parser.feed(decoder.decode()).forEach(dispatch);
  };

  const loop = async () => {
    let wait = retryMs;
    while (!disposed) {
      progressed = false;
      try {
        await connect();
        if (isFinal(last?.state)) {
          break;
        }
      } catch (error) {
        if (disposed) {
          break;
        }
        const apiError =
          error instanceof ApiError
            ? error
            : new ApiError(0, error instanceof Error ? error.message : String(error));
        handlers.error?.(apiError);
        if (apiError.status === 404 || apiError.status === 403) {
          break;
        }
      }
      if (disposed) {
        break;
      }
      // a stream that delivered events reconnects soon; one that keeps failing backs off
      wait = progressed ? retryMs : Math.min(wait * 2, maxRetryMs);
      await sleep(wait);
    }
    if (!disposed) {
      disposed = true;
      handlers.done?.(last);
    }
  };
  void loop();

  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (disposed) {
        return;
      }
      disposed = true;
      controller.abort();
    },
  };
}
