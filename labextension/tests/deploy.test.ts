// A finished run's deployment against a fake server: the client's calls (URLs under a non-root base
// URL, the token on the download too, typed errors), the pure helpers, and the buttons and panel of
// the run detail: export then download, serve then stop, a refused export, a server that died.
import type { ServerConnection } from '@jupyterlab/services';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  ApiError,
  downloadOnnx,
  exportOnnx,
  getServeState,
  OnnxExport,
  ServeState,
  startServing,
  stopServing,
} from '../src/client';
import {
  DeployButtons,
  DeployPanel,
  serverDiedMessage,
  useDeploy,
  useTrainsAnAgent,
} from '../src/detail';
import { formatBytes, formatDiff } from '../src/format';
import { BASE, fakeServer, Handler, json, path } from './fake_server';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// the run detail's JupyterLab imports (widgets, dialogs, the launch form) do not load in jsdom, and
// these tests need none of them: the clipboard is recorded, the sidebar's badges are left out
const clipboard = vi.hoisted(() => [] as string[]);
vi.mock('@jupyterlab/apputils', () => ({
  Clipboard: { copyToSystem: (text: string) => clipboard.push(text) },
  ReactWidget: class {},
}));
vi.mock('../src/sidebar', () => ({ ProgressBar: () => null, StateBadge: () => null }));

const RUN = 'mlp__digits__0__20260101-000000-beef';
const API = `/some/base/dltoolkit/api/runs/${RUN}`;

const EXPORT: OnnxExport = {
  run_id: RUN,
  file: `/srv/runs/${RUN}/export/model.onnx`,
  filename: `${RUN}.onnx`,
  bytes: 9315,
  opset: 18,
  max_abs_diff: 4.77e-7,
  tolerance: 1e-4,
  verified_batch_sizes: [64, 1],
  verified_on: '64 test samples',
  input_shape: [1, 8, 8],
  exported_at: 1767225600,
  reused: false,
};

const SERVING: ServeState = {
  serving: true,
  starting: false,
  run_id: RUN,
  name: 'mlp',
  pid: 4242,
  host: '127.0.0.1',
  port: 50123,
  url: 'http://127.0.0.1:50123',
  predict_url: 'http://127.0.0.1:50123/v1/models/mlp:predict',
  infer_url: 'http://127.0.0.1:50123/v2/models/mlp/infer',
  health_url: 'http://127.0.0.1:50123/v2/health/ready',
  input_shape: [1, 8, 8],
  example: "python3 -c '…' | curl -s -d @- http://127.0.0.1:50123/v1/models/mlp:predict",
  log: `/srv/runs/${RUN}/serve.log`,
  started_at: 1767225600,
};

const NOT_SERVING: ServeState = { serving: false, run_id: RUN };

describe('the deployment calls', () => {
  it('exports with a POST, and downloads the file as a Blob with the token', async () => {
    const bytes = new Uint8Array([8, 7, 0, 1, 2]);
    const { settings, requests } = fakeServer((request) =>
      request.method === 'POST'
        ? json(EXPORT)
        : new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }),
    );
    expect(await exportOnnx(RUN, settings)).toEqual(EXPORT);
    const blob = await downloadOnnx(RUN, settings);
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    expect(requests.map((r) => [r.method, path(r)])).toEqual([
      ['POST', `${API}/onnx`],
      ['GET', `${API}/onnx`],
    ]);
    expect(requests.every((r) => r.headers.get('Authorization') === 'token secret-token')).toBe(
      true,
    );
  });

  it('throws the server message of a download before any export (404)', async () => {
    const message = `run ${RUN} has no ONNX export yet: POST runs/${RUN}/onnx exports it`;
    const { settings } = fakeServer(() => json({ code: 404, message }, 404));
    const error = await downloadOnnx(RUN, settings).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.message]).toEqual([404, message]);
  });

  it('reads, starts and stops a server with GET, POST and DELETE', async () => {
    const { settings, requests } = fakeServer((request) =>
      json(request.method === 'POST' ? SERVING : NOT_SERVING),
    );
    expect(await getServeState(RUN, settings)).toEqual(NOT_SERVING);
    expect(await startServing(RUN, settings)).toEqual(SERVING);
    expect(await stopServing(RUN, settings)).toEqual(NOT_SERVING);
    expect(requests.map((r) => [r.method, path(r)])).toEqual([
      ['GET', `${API}/serve`],
      ['POST', `${API}/serve`],
      ['DELETE', `${API}/serve`],
    ]);
  });
});

describe('the helpers', () => {
  it('formats sizes as browsers show downloads', () => {
    expect(formatBytes(912)).toBe('912 B');
    expect(formatBytes(9315)).toBe('9.3 kB');
    expect(formatBytes(44_600_000)).toBe('45 MB');
    expect(formatBytes(999_999)).toBe('1.0 MB');
    expect(formatBytes(-1)).toBe('?');
  });

  it('formats the parity figure', () => {
    expect(formatDiff(4.77e-7)).toBe('4.8e-7');
    expect(formatDiff(0)).toBe('0');
  });

  it('tells a server that died from one stopped or never started', () => {
    expect(serverDiedMessage({ ...NOT_SERVING, exit_code: 2, log_tail: 'boom' })).toBe(
      'The model server exited (code 2); its log ends with:\nboom',
    );
    expect(serverDiedMessage(NOT_SERVING)).toBeNull();
    expect(serverDiedMessage(SERVING)).toBeNull();
  });
});

// --- the buttons and the panel ----------------------------------------------------------------------

let root: Root | undefined;
let host: HTMLElement | undefined;

beforeEach(() => {
  let n = 0;
  URL.createObjectURL = vi.fn(() => `blob:${BASE}${++n}`); // jsdom has no object URLs
  URL.revokeObjectURL = vi.fn();
});

afterEach(async () => {
  if (root) {
    const r = root;
    await act(async () => r.unmount());
  }
  host?.remove();
  root = undefined;
  host = undefined;
});

/** What the run detail renders: the buttons in its header, the panel below. */
function Deployment(props: {
  settings: ServerConnection.ISettings;
  disabled?: boolean;
  pollMs?: number;
}) {
  const deploy = useDeploy(RUN, props.settings, props.pollMs ?? 60_000);
  return React.createElement(
    'div',
    null,
    React.createElement(DeployButtons, { deploy, disabled: props.disabled ?? false }),
    React.createElement(DeployPanel, { deploy }),
  );
}

async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

async function render(handler: Handler, disabled = false, pollMs?: number) {
  const server = fakeServer(handler);
  host = document.createElement('div');
  document.body.appendChild(host);
  const r = createRoot(host);
  root = r;
  await act(async () => r.render(React.createElement(Deployment, { ...server, disabled, pollMs })));
  await settle();
  return server;
}

const $ = (testid: string) => host!.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
const byLabel = (label: string) => host!.querySelector<HTMLElement>(`[aria-label="${label}"]`);

async function click(element: HTMLElement | null) {
  expect(element).not.toBeNull();
  await act(async () => element!.click());
  await settle();
}

/** A fake dltoolkit server: the serve state follows POST and DELETE; `onnx` answers the export. */
function deployServer(onnx: Handler = () => json(EXPORT), initial: ServeState = NOT_SERVING) {
  let state = initial;
  return async (request: Request): Promise<Response> => {
    const p = path(request);
    if (p.endsWith('/onnx')) {
      return request.method === 'POST' ? onnx(request) : new Response(new Uint8Array(9315));
    }
    if (request.method === 'POST') {
      state = SERVING;
    } else if (request.method === 'DELETE') {
      state = NOT_SERVING;
    }
    return json(state);
  };
}

describe('the Export ONNX and Serve actions', () => {
  it('learns the serve state on opening, exports to a download link, serves and stops', async () => {
    const { requests } = await render(deployServer());
    expect(requests.map((r) => r.method + ' ' + path(r))).toEqual([`GET ${API}/serve`]);
    expect($('deploy')).toBeNull(); // nothing to show yet
    expect(byLabel('Serve')!.textContent).toBe('Serve');

    await click(byLabel('Export ONNX'));
    const link = byLabel(`Download ${RUN}.onnx`) as HTMLAnchorElement;
    expect(link.textContent).toBe(`Download ${RUN}.onnx (9.3 kB)`);
    expect(link.getAttribute('download')).toBe(`${RUN}.onnx`);
    expect(link.href).toBe(`blob:${BASE}1`);
    expect($('onnx-parity')!.textContent).toContain('4.8e-7 on 64 test samples');

    await click(byLabel('Serve'));
    expect($('serve-url')!.textContent).toBe(SERVING.url);
    expect($('serve-predict-url')!.textContent).toBe(SERVING.predict_url);
    expect($('serve-example')!.textContent).toBe(SERVING.example);
    await click(byLabel('Copy server URL'));
    expect(clipboard.at(-1)).toBe(SERVING.url);
    expect(byLabel('Copy server URL')!.textContent).toBe('Copied');
    expect((byLabel('Serve') as HTMLButtonElement).disabled).toBe(true);
    expect(byLabel('Serve')!.textContent).toBe('Serving');

    await click(byLabel('Stop serving'));
    expect($('serve-info')).toBeNull();
    expect((byLabel('Serve') as HTMLButtonElement).disabled).toBe(false);
    expect(requests.map((r) => r.method + ' ' + path(r)).slice(1)).toEqual([
      `POST ${API}/onnx`,
      `GET ${API}/onnx`,
      `POST ${API}/serve`,
      `DELETE ${API}/serve`,
    ]);
  });

  it('shows a refused export beside the buttons, and a new export replaces the old link', async () => {
    let refuse = true;
    const onnx = () =>
      refuse
        ? json({ code: 409, message: 'MLP cannot be exported to ONNX: unsupported operator' }, 409)
        : json(EXPORT);
    await render(deployServer(onnx));
    await click(byLabel('Export ONNX'));
    expect($('deploy-error')!.textContent).toBe(
      'MLP cannot be exported to ONNX: unsupported operator',
    );
    expect($('onnx-download')).toBeNull();
    refuse = false;
    await click(byLabel('Export ONNX'));
    await click(byLabel('Export ONNX'));
    expect($('deploy-error')).toBeNull();
    expect(($('onnx-download') as HTMLAnchorElement).href).toBe(`blob:${BASE}2`);
    expect(URL.revokeObjectURL).toHaveBeenCalledWith(`blob:${BASE}1`);
  });

  it('shows a server already running when opened, and reports it when it dies', async () => {
    let state: ServeState = SERVING;
    await render(() => json(state), false, 20);
    expect($('serve-url')!.textContent).toBe(SERVING.url);
    state = { ...NOT_SERVING, exit_code: -9, log_tail: 'INFO: Started server process' };
    for (let waited = 0; $('serve-info') && waited < 2000; waited += 20) {
      await act(async () => new Promise((r) => setTimeout(r, 20))); // the poll, every 20 ms here
    }
    await settle();
    expect($('serve-info')).toBeNull();
    expect($('deploy-error')!.textContent).toBe(
      'The model server exited (code -9); its log ends with:\nINFO: Started server process',
    );
  });

  it('waits for a server still starting when opened (POST answers once it is ready)', async () => {
    const { requests } = await render(
      deployServer(undefined, { ...SERVING, serving: false, starting: true }),
    );
    expect(requests.map((r) => r.method)).toEqual(['GET', 'POST']);
    expect($('serve-url')!.textContent).toBe(SERVING.url);
  });

  it('keeps the buttons disabled while the run trains', async () => {
    await render(deployServer(), true);
    expect((byLabel('Export ONNX') as HTMLButtonElement).disabled).toBe(true);
    expect((byLabel('Serve') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('useTrainsAnAgent', () => {
  const CATALOG = {
    topics: [],
    data: [],
    models: [
      { name: 'mlp', topic: 'mlp' },
      { name: 'dqn', topic: 'rl' },
    ],
  };

  function Probe(props: { runId: string; settings: ServerConnection.ISettings }) {
    const agent = useTrainsAnAgent(props.runId, props.settings);
    return React.createElement('span', { 'data-testid': 'agent' }, String(agent));
  }

  async function agentFor(runId: string, handler: Handler): Promise<string | null | undefined> {
    const { settings, requests } = fakeServer(handler);
    host = document.createElement('div');
    document.body.appendChild(host);
    const r = createRoot(host);
    root = r;
    await act(async () => r.render(React.createElement(Probe, { runId, settings })));
    await settle();
    expect(requests.map((q) => path(q))).toEqual(['/some/base/dltoolkit/api/catalog']);
    return $('agent')?.textContent;
  }

  it("is true for a run of the catalog's rl topic, false for other models", async () => {
    expect(await agentFor('dqn__cartpole__0__20260101-000000-beef', () => json(CATALOG))).toBe(
      'true',
    );
    await act(async () => root!.unmount());
    root = undefined;
    host?.remove();
    expect(await agentFor(RUN, () => json(CATALOG))).toBe('false');
  });

  it('is false when the catalog cannot be read or does not name the model', async () => {
    expect(await agentFor('dqn__cartpole__0__20260101-000000-beef', () => json({}, 500))).toBe(
      'false',
    );
    await act(async () => root!.unmount());
    root = undefined;
    host?.remove();
    expect(await agentFor('MyNet__cartpole__0__20260101-000000-beef', () => json(CATALOG))).toBe(
      'false',
    );
  });
});
