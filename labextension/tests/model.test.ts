// The runs list's polling: every second while a run is queued or running, every five otherwise.
import { ServerConnection } from '@jupyterlab/services';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ACTIVE_POLL_MS, IDLE_POLL_MS, RunsModel } from '../src/model';

describe('RunsModel', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function server(states: string[][]) {
    let call = 0;
    const fetch = vi.fn(async () => {
      const runs = (states[Math.min(call++, states.length - 1)] ?? []).map((state, i) => ({
        run_id: `r${i}`,
        state,
      }));
      return new Response(JSON.stringify({ runs }), { status: 200 });
    });
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/base/',
      fetch: fetch as unknown as typeof globalThis.fetch,
    });
    return { fetch, settings };
  }

  it('polls fast while a run is active, slowly once all have ended', async () => {
    const { fetch, settings } = server([['running'], ['running'], ['finished']]);
    const model = new RunsModel(settings);
    const changes: number[] = [];
    model.changed.connect(() => changes.push(model.tick));
    model.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(model.runs.map((r) => r.state)).toEqual(['running']);
    await vi.advanceTimersByTimeAsync(ACTIVE_POLL_MS);
    expect(fetch).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(ACTIVE_POLL_MS);
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(model.runs.map((r) => r.state)).toEqual(['finished']);
    await vi.advanceTimersByTimeAsync(IDLE_POLL_MS - 1);
    expect(fetch).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetch).toHaveBeenCalledTimes(4);
    expect(changes).toEqual([1, 2, 3, 4]);
    model.dispose();
    await vi.advanceTimersByTimeAsync(IDLE_POLL_MS * 3);
    expect(fetch).toHaveBeenCalledTimes(4);
  });

  it('polls at once on refresh, and keeps the error of a failed poll', async () => {
    const fetch = vi.fn(async () => new Response('{"message": "down"}', { status: 503 }));
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/base/',
      fetch: fetch as unknown as typeof globalThis.fetch,
    });
    const model = new RunsModel(settings);
    await model.refresh();
    expect(model.error?.status).toBe(503);
    expect(model.loaded).toBe(false);
    await model.refresh();
    expect(fetch).toHaveBeenCalledTimes(2);
    model.dispose();
  });
});
