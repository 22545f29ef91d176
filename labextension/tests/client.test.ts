// The sidebar's API client against a fake `fetch`: URLs under a non-root base URL, the token header,
// JSON answers and errors, and the server-sent events of a run, split anywhere and reconnected.
import { describe, expect, it } from 'vitest';

import {
  ApiError,
  deleteRun,
  getCatalog,
  getLogs,
  getMetrics,
  getRun,
  launchRun,
  listRuns,
  MetricRow,
  RunStatus,
  SSEEvent,
  SSEParser,
  stopRun,
  watchRun,
} from '../src/client';
import { BASE, fakeServer, json, path } from './fake_server';

/** A streaming body that delivers `chunks` one by one, then ends. */
function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(encoder.encode(chunks[i++]));
      } else {
        controller.close();
      }
    },
  });
}

/** `text` cut at the given offsets. */
function splitAt(text: string, cuts: number[]): string[] {
  const points = [
    0,
    ...[...new Set(cuts)].filter((c) => c > 0 && c < text.length).sort((a, b) => a - b),
    text.length,
  ];
  return points.slice(1).map((end, i) => text.slice(points[i], end));
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

describe('requestAPI and the typed calls', () => {
  it('builds URLs under the non-root base URL and sends the token', async () => {
    const catalog = { topics: [], models: [], data: [] };
    const { settings, requests } = fakeServer(() => json(catalog));
    expect(await getCatalog(settings)).toEqual(catalog);
    const [request] = requests;
    expect(request.url.startsWith(`${BASE}dltoolkit/api/catalog`)).toBe(true);
    expect(path(request)).toBe('/some/base/dltoolkit/api/catalog');
    expect(request.headers.get('Authorization')).toBe('token secret-token');
    expect(request.method).toBe('GET');
  });

  it('lists runs, reads one, its metrics from `since` and its log tail', async () => {
    const status: RunStatus = {
      run_id: 'mlp__digits__0__20260101-120000-ab12',
      state: 'running',
      step: 3,
    };
    const { settings, requests } = fakeServer((request) => {
      const p = path(request);
      if (p.endsWith('/runs')) {
        return json({ runs: [status] });
      }
      if (p.endsWith('/metrics')) {
        return json({ rows: [{ step: 5, 'train/loss': 0.5 }], next: 8 });
      }
      if (p.endsWith('/logs')) {
        return json({ text: 'epoch 1\nepoch 2' });
      }
      return json({
        ...status,
        config: {},
        config_yaml: 'seed_everything: 0\n',
        command: 'dltoolkit fit',
      });
    });
    expect(await listRuns(settings)).toEqual([status]);
    const detail = await getRun(status.run_id, settings);
    expect(detail.command).toBe('dltoolkit fit');
    expect(await getMetrics(status.run_id, 7, settings)).toEqual({
      rows: [{ step: 5, 'train/loss': 0.5 }],
      next: 8,
    });
    expect((await getLogs(status.run_id, 40, settings)).text).toBe('epoch 1\nepoch 2');
    expect(requests.map(path)).toEqual([
      '/some/base/dltoolkit/api/runs',
      `/some/base/dltoolkit/api/runs/${status.run_id}`,
      `/some/base/dltoolkit/api/runs/${status.run_id}/metrics`,
      `/some/base/dltoolkit/api/runs/${status.run_id}/logs`,
    ]);
    expect(new URL(requests[2].url).searchParams.get('since')).toBe('7');
    expect(new URL(requests[3].url).searchParams.get('tail')).toBe('40');
  });

  it('POSTs a launch as JSON and returns the 201 status', async () => {
    const { settings, requests } = fakeServer(() =>
      json({ run_id: 'mlp__digits__0__20260101-120000-ab12', state: 'queued' }, 201),
    );
    const status = await launchRun({ model: 'mlp', trainer_args: { max_epochs: 2 } }, settings);
    expect(status.state).toBe('queued');
    const [request] = requests;
    expect(request.method).toBe('POST');
    expect(path(request)).toBe('/some/base/dltoolkit/api/runs');
    expect(await request.json()).toEqual({ model: 'mlp', trainer_args: { max_epochs: 2 } });
  });

  it('throws an ApiError with the per-field errors of a 400', async () => {
    const errors = { 'model_args.dropout': 'must be in [0, 1)', model: 'unknown model' };
    const { settings } = fakeServer(() =>
      json({ code: 400, message: 'invalid launch request', errors }, 400),
    );
    const error = await launchRun({ model: 'nope' }, settings).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.message).toBe('invalid launch request');
    expect(error.errors).toEqual(errors);
  });

  it('answers a 204 with nothing, and a 409 with its message', async () => {
    const { settings, requests } = fakeServer((request) =>
      request.method === 'DELETE'
        ? new Response(null, { status: 204 })
        : json({ code: 409, message: 'run x is running; stop it first' }, 409),
    );
    await expect(deleteRun('x', settings)).resolves.toBeUndefined();
    expect(requests[0].method).toBe('DELETE');
    expect(path(requests[0])).toBe('/some/base/dltoolkit/api/runs/x');
    const error = await stopRun('x', settings).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(409);
    expect(error.message).toMatch(/stop it first/);
    expect(path(requests[1])).toBe('/some/base/dltoolkit/api/runs/x/stop');
  });

  it('keeps the text of an answer that is not JSON, and reports an unreachable server', async () => {
    const { settings } = fakeServer(() => new Response('Bad Gateway', { status: 502 }));
    const error = await getCatalog(settings).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(502);
    expect(error.message).toBe('Bad Gateway');

    const down = fakeServer(() => Promise.reject(new TypeError('Failed to fetch')));
    const unreachable = await listRuns(down.settings).catch((e) => e);
    expect(unreachable).toBeInstanceOf(ApiError);
    expect(unreachable.status).toBe(0);
  });
});

describe('SSEParser', () => {
  const stream =
    ': keep-alive\n\n' +
    sse('status', { run_id: 'r', state: 'running' }) +
    'event: metrics\r\ndata: {"rows": [{"step": 1, "train/loss": 2.5}],\r\ndata:  "next": 1}\r\n\r\n' +
    'data: plain\rid: 7\r\r' +
    'event:status\ndata:{"run_id":"r","state":"finished"}\n\n';
  const expected: SSEEvent[] = [
    { event: 'status', data: '{"run_id":"r","state":"running"}' },
    { event: 'metrics', data: '{"rows": [{"step": 1, "train/loss": 2.5}],\n "next": 1}' },
    { event: 'message', data: 'plain', id: '7' },
    { event: 'status', data: '{"run_id":"r","state":"finished"}', id: '7' },
  ];

  it('parses a whole stream', () => {
    expect(new SSEParser().feed(stream)).toEqual(expected);
  });

  it('gives the same events however the stream is split', () => {
    // every single cut, then many random multi-cuts
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = new SSEParser();
      const events = splitAt(stream, [cut]).flatMap((chunk) => parser.feed(chunk));
      expect(events).toEqual(expected);
    }
    const rand = random(42);
    for (let trial = 0; trial < 200; trial++) {
      const cuts = Array.from({ length: 1 + Math.floor(rand() * 20) }, () =>
        Math.floor(rand() * stream.length),
      );
      const parser = new SSEParser();
      expect(splitAt(stream, cuts).flatMap((chunk) => parser.feed(chunk))).toEqual(expected);
    }
  });

  it('waits for the blank line before dispatching', () => {
    const parser = new SSEParser();
    expect(parser.feed('event: status\ndata: {}\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'status', data: '{}' }]);
  });
});

describe('watchRun', () => {
  const runId = 'mlp__digits__0__20260101-120000-ab12';
  const rows: MetricRow[] = Array.from({ length: 6 }, (_, i) => ({
    step: i,
    'train/loss': 1 / (i + 1),
  }));

  /** The server's stream from row `since`: status, then metrics in pages of 2; `final` ends it. */
  function eventsFrom(since: number, final: boolean): string {
    let text = sse('status', { run_id: runId, state: 'running', step: since });
    for (let i = since; i < rows.length; i += 2) {
      const page = rows.slice(i, i + 2);
      text += sse('metrics', { rows: page, next: i + page.length });
      if (!final && i + page.length >= 4) {
        return text; // the connection drops after row 4 the first time
      }
    }
    return text + sse('status', { run_id: runId, state: 'finished', step: rows.length });
  }

  it('streams through the token-authenticated fetch, split anywhere, and reconnects with since', async () => {
    const rand = random(7);
    let connections = 0;
    const { settings, requests } = fakeServer((request) => {
      const since = Number(new URL(request.url).searchParams.get('since'));
      const text = eventsFrom(since, connections++ > 0);
      const cuts = Array.from({ length: 12 }, () => Math.floor(rand() * text.length));
      return new Response(streamOf(splitAt(text, cuts)), {
        headers: { 'Content-Type': 'text/event-stream' },
      });
    });
    const received: MetricRow[] = [];
    const states: string[] = [];
    const last = await new Promise<RunStatus | undefined>((resolve) => {
      watchRun(
        runId,
        0,
        {
          status: (s) => states.push(s.state),
          metrics: (page) => received.push(...page.rows),
          done: resolve,
        },
        settings,
        { retryMs: 1 },
      );
    });
    expect(last?.state).toBe('finished');
    expect(received).toEqual(rows); // nothing lost, nothing repeated
    expect(states).toEqual(['running', 'running', 'finished']);
    expect(requests.map(path)).toEqual([
      `/some/base/dltoolkit/api/runs/${runId}/events`,
      `/some/base/dltoolkit/api/runs/${runId}/events`,
    ]);
    expect(requests.map((r) => new URL(r.url).searchParams.get('since'))).toEqual(['0', '4']);
    expect(requests.every((r) => r.headers.get('Authorization') === 'token secret-token')).toBe(
      true,
    );
  });

  it('starts from the given since, and gives up on a run that is gone (404)', async () => {
    const { settings, requests } = fakeServer(() => json({ code: 404, message: 'no run x' }, 404));
    const errors: ApiError[] = [];
    const last = await new Promise<RunStatus | undefined>((resolve) => {
      watchRun('x', 3, { error: (e) => errors.push(e), done: resolve }, settings, { retryMs: 1 });
    });
    expect(last).toBeUndefined();
    expect(errors.map((e) => e.status)).toEqual([404]);
    expect(requests).toHaveLength(1);
    expect(new URL(requests[0].url).searchParams.get('since')).toBe('3');
  });

  it('retries after a server error, and stops when disposed', async () => {
    let calls = 0;
    const { settings } = fakeServer(() => {
      calls++;
      return json({ code: 500, message: 'internal error' }, 500);
    });
    const errors: number[] = [];
    let done = false;
    const watcher = watchRun(
      'x',
      0,
      { error: (e) => errors.push(e.status), done: () => (done = true) },
      settings,
      { retryMs: 1, maxRetryMs: 2 },
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    watcher.dispose();
    expect(watcher.isDisposed).toBe(true);
    expect(calls).toBeGreaterThan(1);
    expect(errors.every((s) => s === 500)).toBe(true);
    const after = calls;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(after);
    expect(done).toBe(false);
  });

  it('aborts an open stream when disposed', async () => {
    let aborted = false;
    const { settings } = fakeServer((request) => {
      request.signal.addEventListener('abort', () => (aborted = true));
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(
              new TextEncoder().encode(sse('status', { run_id: 'x', state: 'running' })),
            );
            request.signal.addEventListener('abort', () =>
              controller.error(new DOMException('aborted', 'AbortError')),
            );
          },
        }),
      );
    });
    const states: string[] = [];
    const watcher = watchRun('x', 0, { status: (s) => states.push(s.state) }, settings);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(states).toEqual(['running']);
    watcher.dispose();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted).toBe(true);
  });
});
