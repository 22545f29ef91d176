// The Explain and Attack views against a fake server: the client's three calls (URLs under a
// non-root base URL, bodies, typed errors), the pure helpers, and the React view itself: pick a
// sample, explain, attack, a refused request beside its control, a newer request superseding an
// older one whose answer comes later.
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';

import {
  ApiError,
  attackRun,
  AttackResult,
  attackTakesEps,
  explainRun,
  ExplainResult,
  getSamples,
  SamplesPage,
} from '../src/client';
import {
  attackRequestOf,
  attackVerdict,
  curveTable,
  EPS_MAX,
  explainRequestOf,
  formatEps,
  formatPercent,
  formatSeconds,
  InspectTab,
  InspectView,
  LatestOnly,
  problemOf,
  SUPERSEDED,
  unplacedErrors,
} from '../src/inspect';
import { fakeServer, Handler, json } from './fake_server';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const RUN = 'lenet__digits__0__20260101-000000-beef';
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

const top = (...pairs: [number, number][]) =>
  pairs.map(([index, probability]) => ({ class: String(index), index, probability }));

const SAMPLES: SamplesPage = {
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  total: 4,
  samples: [
    { index: 0, label: 4, predicted: 4, image: PNG },
    { index: 1, label: 8, predicted: 3, image: PNG },
    { index: 2, label: 7, predicted: 7, image: PNG },
    { index: 3, label: 9, predicted: 9, image: PNG },
  ],
};

function explained(index: number, method: string): ExplainResult {
  return {
    index,
    label: SAMPLES.samples[index].label,
    method,
    target: SAMPLES.samples[index].predicted,
    top: top([SAMPLES.samples[index].predicted, 0.9], [1, 0.06], [2, 0.02], [5, 0.01], [6, 0.01]),
    image: PNG,
    overlay: PNG,
    heatmap: PNG,
    seconds: 0.42,
  };
}

function attacked(index: number, attack: string, eps: number | null): AttackResult {
  const label = SAMPLES.samples[index].label;
  return {
    index,
    label,
    attack,
    eps,
    clean: top([label, 0.95], [1, 0.03]),
    adversarial: top([1, 0.7], [label, 0.2]),
    linf: eps ?? 0.31,
    images: { original: PNG, adversarial: PNG, perturbation: PNG },
    curve:
      eps === null
        ? null
        : [
            { eps: 0.1, accuracy: 0.5 },
            { eps: 0, accuracy: 0.95 },
            { eps: 0.2, accuracy: 0.1 },
          ],
    seconds: 1.5,
  };
}

describe('the client', () => {
  it('asks for samples, explanations and attacks under the base URL, with the token', async () => {
    const { settings, requests } = fakeServer((request) => {
      const path = new URL(request.url).pathname;
      if (path.endsWith('/samples')) {
        return json(SAMPLES);
      }
      return path.endsWith('/explain')
        ? json(explained(3, 'saliency'))
        : json(attacked(3, 'pgd', 0.2));
    });
    expect((await getSamples(RUN, 12, settings)).total).toBe(4);
    expect((await explainRun(RUN, { index: 3, method: 'saliency' }, settings)).method).toBe(
      'saliency',
    );
    expect((await attackRun(RUN, { index: 3, attack: 'pgd', eps: 0.2 }, settings)).linf).toBe(0.2);

    const [samples, explain, attack] = requests;
    const samplesUrl = new URL(samples.url);
    expect(samplesUrl.pathname).toBe(`/some/base/dltoolkit/api/runs/${RUN}/samples`);
    expect(samplesUrl.searchParams.get('count')).toBe('12');
    expect(samples.method).toBe('GET');
    expect(new URL(explain.url).pathname).toBe(`/some/base/dltoolkit/api/runs/${RUN}/explain`);
    expect(explain.method).toBe('POST');
    expect(await explain.json()).toEqual({ index: 3, method: 'saliency' });
    expect(new URL(attack.url).pathname).toBe(`/some/base/dltoolkit/api/runs/${RUN}/attack`);
    expect(await attack.json()).toEqual({ index: 3, attack: 'pgd', eps: 0.2 });
    expect(attack.headers.get('Authorization')).toBe('token secret-token');
  });

  it('encodes the run id in the path', async () => {
    const { settings, requests } = fakeServer(() => json(SAMPLES));
    await getSamples('a b/c', 1, settings);
    expect(new URL(requests[0].url).pathname).toBe(
      '/some/base/dltoolkit/api/runs/a%20b%2Fc/samples',
    );
  });

  it("throws the server's per-field errors (400) and its message (409) as an ApiError", async () => {
    const errors = { method: 'MLP has no Conv2d layer' };
    let status = 400;
    const { settings } = fakeServer(() =>
      status === 400
        ? json({ code: 400, message: 'invalid request', errors }, 400)
        : json(
            { code: 409, message: 'run x is running; look inside it once it has finished' },
            409,
          ),
    );
    const refused = await explainRun(RUN, { index: 0, method: 'grad_cam' }, settings).catch(
      (e) => e,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused.status).toBe(400);
    expect(refused.errors).toEqual(errors);
    status = 409;
    const busy = await attackRun(RUN, { index: 0 }, settings).catch((e) => e);
    expect(busy.status).toBe(409);
    expect(busy.message).toMatch(/once it has finished/);
  });

  it('aborts the fetch when its signal is aborted', async () => {
    const controller = new AbortController();
    const { settings, requests } = fakeServer(
      (request) =>
        new Promise((_resolve, reject) =>
          request.signal.addEventListener('abort', () =>
            reject(new DOMException('aborted', 'AbortError')),
          ),
        ),
    );
    const pending = explainRun(RUN, { index: 0 }, settings, controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(requests[0].signal.aborted).toBe(true);
  });
});

describe('LatestOnly', () => {
  function deferred<T>() {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  it('gives the newest answer and SUPERSEDED to an older one that ends later', async () => {
    const latest = new LatestOnly();
    const first = deferred<string>();
    const second = deferred<string>();
    const signals: AbortSignal[] = [];
    const a = latest.run((signal) => (signals.push(signal), first.promise));
    expect(latest.busy).toBe(true);
    const b = latest.run((signal) => (signals.push(signal), second.promise));
    expect(signals[0].aborted).toBe(true); // the older request is cancelled
    expect(signals[1].aborted).toBe(false);
    second.resolve('new');
    first.resolve('old');
    expect(await b).toBe('new');
    expect(await a).toBe(SUPERSEDED);
    expect(latest.busy).toBe(false);
  });

  it("never throws an older request's error, throws the current one's", async () => {
    const latest = new LatestOnly();
    const first = deferred<string>();
    const a = latest.run(() => first.promise);
    const b = latest.run(() => Promise.reject(new Error('current')));
    first.reject(new Error('old'));
    expect(await a).toBe(SUPERSEDED);
    await expect(b).rejects.toThrow('current');
    expect(latest.busy).toBe(false);
  });

  it('cancel() forgets the request in flight', async () => {
    const latest = new LatestOnly();
    const first = deferred<number>();
    const a = latest.run(() => first.promise);
    latest.cancel();
    expect(latest.busy).toBe(false);
    first.resolve(1);
    expect(await a).toBe(SUPERSEDED);
  });
});

describe('helpers', () => {
  it('splits a 400 into field errors, keeps the message of a 409', () => {
    const refused = problemOf(new ApiError(400, 'invalid request', { method: 'no conv' }));
    expect(refused.fields).toEqual({ method: 'no conv' });
    expect(problemOf(new ApiError(409, 'run x is running')).message).toBe('run x is running');
    expect(problemOf(new ApiError(500, 'boom')).message).toBe('boom (HTTP 500)');
    expect(problemOf(new Error('offline')).message).toBe('offline');
    expect(unplacedErrors({ method: 'a', index: 'b', '': 'c' }, ['method', 'index'])).toEqual([
      ['', 'c'],
    ]);
  });

  it('formats probabilities, durations and eps', () => {
    expect(formatPercent(0.9812)).toBe('98.1%');
    expect(formatPercent(0.0001)).toBe('<0.1%');
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatSeconds(0.0123)).toBe('12 ms');
    expect(formatSeconds(0.4211)).toBe('0.42 s');
    expect(formatSeconds(12.34)).toBe('12.3 s');
    expect(formatEps(8 / 255)).toBe('0.03 ≈ 8/255');
    expect(formatEps(0.2)).toBe('0.20 ≈ 51/255');
  });

  it('sends no eps to the minimum-norm attacks, a decimal one to the others', () => {
    expect(attackTakesEps('pgd')).toBe(true);
    expect(attackTakesEps('cw')).toBe(false);
    expect(attackRequestOf(2, 'cw', 0.3, true)).toEqual({ index: 2, attack: 'cw', curve: false });
    expect(attackRequestOf(2, 'deepfool', 0.3, false)).not.toHaveProperty('eps');
    expect(attackRequestOf(2, 'pgd', 0.1 + 0.2, true)).toEqual({
      index: 2,
      attack: 'pgd',
      eps: 0.3,
      curve: true,
    });
    expect(explainRequestOf(1, 'saliency', null, true)).toEqual({
      index: 1,
      method: 'saliency',
      target: null,
      smoothgrad: true,
    });
  });

  it('draws the curve against eps, in order', () => {
    const table = curveTable(attacked(0, 'pgd', 0.1).curve!);
    expect(table.steps).toEqual([0, 0.1, 0.2]);
    expect(table.series('accuracy').y).toEqual([0.95, 0.5, 0.1]);
    expect(table.metricNames()).toEqual(['accuracy']);
  });

  it('tells a fooled prediction from one that held or was wrong already', () => {
    expect(attackVerdict(attacked(0, 'pgd', 0.1)).kind).toBe('fooled');
    const held = { label: 4, clean: top([4, 0.9]), adversarial: top([4, 0.6]) };
    expect(attackVerdict(held).kind).toBe('held');
    const wrong = { label: 8, clean: top([3, 0.6]), adversarial: top([3, 0.9]) };
    expect(attackVerdict(wrong)).toEqual({ kind: 'wrong', text: 'misclassified already' });
  });
});

// --- the view -------------------------------------------------------------------------------------

let root: Root | undefined;
let host: HTMLElement | undefined;

afterEach(async () => {
  if (root) {
    const r = root;
    await act(async () => r.unmount());
  }
  host?.remove();
  root = undefined;
  host = undefined;
});

async function render(handler: Handler, tab: InspectTab = 'explain') {
  const server = fakeServer(handler);
  host = document.createElement('div');
  document.body.appendChild(host);
  const r = createRoot(host);
  root = r;
  const props = {
    runId: RUN,
    settings: server.settings,
    tab,
    onTab: () => undefined,
    runState: undefined as string | undefined,
  };
  await act(async () => r.render(React.createElement(InspectView, props)));
  await settle();
  const rerender = async (next: Partial<typeof props>) => {
    Object.assign(props, next);
    await act(async () => r.render(React.createElement(InspectView, { ...props })));
    await settle();
  };
  return { ...server, host, rerender };
}

/** Let pending fetches and React updates finish. */
async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

const $ = (testid: string) => host!.querySelector<HTMLElement>(`[data-testid="${testid}"]`);

async function click(testid: string) {
  const el = $(testid);
  expect(el, testid).not.toBeNull();
  await act(async () => el!.click());
  await settle();
}

/** Change a select or input the way React listens for it. */
async function change(testid: string, value: string) {
  const el = $(testid) as HTMLInputElement | HTMLSelectElement;
  const proto = el instanceof HTMLSelectElement ? HTMLSelectElement : HTMLInputElement;
  Object.getOwnPropertyDescriptor(proto.prototype, 'value')!.set!.call(el, value);
  await act(async () => {
    el.dispatchEvent(
      new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }),
    );
  });
  await settle();
}

function server(overrides: { explain?: Handler; attack?: Handler; samples?: Handler } = {}) {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path.endsWith('/samples')) {
      return overrides.samples ? overrides.samples(request) : json(SAMPLES);
    }
    if (path.endsWith('/explain')) {
      if (overrides.explain) {
        return overrides.explain(request);
      }
      const body = await request.clone().json();
      return json(explained(body.index, body.method ?? 'integrated_gradients'));
    }
    if (overrides.attack) {
      return overrides.attack(request);
    }
    const body = await request.clone().json();
    return json(attacked(body.index, body.attack, body.eps ?? null));
  };
}

describe('InspectView', () => {
  it('shows the samples, picks the first, marks the misclassified ones', async () => {
    const { requests } = await render(server());
    expect(requests[0].url).toContain(`runs/${RUN}/samples?count=60`);
    const grid = $('inspect-samples')!;
    expect(grid.querySelectorAll('button')).toHaveLength(4);
    expect($('sample-0')!.getAttribute('aria-pressed')).toBe('true');
    expect($('sample-1')!.className).toContain('dltoolkit-mod-wrong');
    expect($('sample-1')!.textContent).toBe('8→3');
    expect($('sample-0')!.querySelector('img')!.className).toContain('dltoolkit-Pixelated');
    // "misclassified only"
    const wrongOnly = $('inspect-wrong-only') as HTMLInputElement;
    await act(async () => wrongOnly.click());
    expect(grid.querySelectorAll('button')).toHaveLength(1);
  });

  it('explains the picked sample with the chosen method, target and SmoothGrad', async () => {
    const { requests } = await render(server());
    await click('sample-2');
    await change('explain-method', 'saliency');
    await change('explain-target', '3');
    await click('explain-smoothgrad');
    // the target's options: "predicted (7)", then every class, the true label marked
    const target = $('explain-target') as HTMLSelectElement;
    expect(target.options[0].textContent).toBe('predicted (7)');
    expect(target.options[8].textContent).toBe('7 (true label)');
    await click('explain-run');
    const post = requests.find((r) => r.method === 'POST')!;
    expect(await post.json()).toEqual({
      index: 2,
      method: 'saliency',
      target: 3,
      smoothgrad: true,
    });
    const result = $('explain-result')!;
    expect(result.dataset.index).toBe('2');
    expect(($('explain-overlay') as HTMLImageElement).src).toBe(PNG);
    expect($('explain-top')!.querySelectorAll('li')).toHaveLength(5);
    expect($('explain-top')!.textContent).toContain('90.0%');
    expect($('explain-seconds')!.textContent).toBe('0.42 s');
  });

  it('explains a newly picked sample at once, once a result is shown', async () => {
    const { requests } = await render(server());
    await click('explain-run');
    await click('sample-3');
    const posts = requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    expect($('explain-result')!.dataset.index).toBe('3');
  });

  it('shows a busy state, and never an older answer that comes after a newer one', async () => {
    const pending: { index: number; resolve: () => void }[] = [];
    const { host } = await render(
      server({
        explain: async (request) => {
          const body = await request.json();
          await new Promise<void>((resolve) => pending.push({ index: body.index, resolve }));
          return json(explained(body.index, body.method));
        },
      }),
    );
    await click('explain-run'); // sample 0
    expect($('explain-busy')).not.toBeNull();
    await click('sample-1'); // a pick while busy explains the new sample: it supersedes sample 0
    expect(pending.map((p) => p.index)).toEqual([0, 1]);
    pending[1].resolve();
    await settle();
    expect($('explain-result')!.dataset.index).toBe('1');
    expect($('explain-busy')).toBeNull();
    pending[0].resolve(); // the older answer comes last: ignored
    await settle();
    expect($('explain-result')!.dataset.index).toBe('1');
    expect(host.querySelectorAll('[data-testid="explain-result"]')).toHaveLength(1);
  });

  it("shows a refused method beside the select, and a 409's message in the error box", async () => {
    let status = 400;
    await render(
      server({
        explain: () =>
          status === 400
            ? json({ code: 400, message: 'invalid request', errors: { method: 'no Conv2d' } }, 400)
            : json({ code: 409, message: 'run x is running' }, 409),
      }),
    );
    await change('explain-method', 'grad_cam');
    await click('explain-run');
    expect($('explain-error-method')!.textContent).toBe('no Conv2d');
    expect($('explain-method')!.getAttribute('aria-invalid')).toBe('true');
    expect($('inspect-errors')).toBeNull(); // every message is beside its control
    status = 409;
    await click('explain-run');
    expect($('explain-error-method')).toBeNull();
    expect($('inspect-errors')!.textContent).toContain('run x is running');
  });

  it('shows why the samples could not be read, and asks again once the run finished', async () => {
    let finished = false;
    const { rerender } = await render(
      server({
        samples: () =>
          finished ? json(SAMPLES) : json({ code: 409, message: 'run x is running' }, 409),
      }),
    );
    expect($('inspect-errors')!.textContent).toContain('run x is running');
    finished = true;
    await rerender({ runState: 'finished' });
    expect($('inspect-errors')).toBeNull();
    expect($('inspect-samples')!.querySelectorAll('button')).toHaveLength(4);
  });

  it('attacks with the eps of the slider, and draws the curve with the shared chart', async () => {
    const { requests } = await render(server(), 'attack');
    const eps = $('attack-eps') as HTMLInputElement;
    expect(eps.max).toBe(String(EPS_MAX));
    expect(eps.step).toBe('0.01');
    await change('attack-eps', '0.2');
    expect($('attack-eps-value')!.textContent).toBe('0.20 ≈ 51/255');
    await click('sample-2');
    await click('attack-run');
    const post = requests.find((r) => r.method === 'POST')!;
    expect(new URL(post.url).pathname).toMatch(/\/attack$/);
    expect(await post.json()).toEqual({ index: 2, attack: 'pgd', eps: 0.2, curve: true });
    expect($('attack-result')!.dataset.attack).toBe('pgd');
    expect(($('attack-adversarial') as HTMLImageElement).src).toBe(PNG);
    expect($('attack-adversarial-prediction')!.textContent).toContain('70.0%');
    expect($('attack-clean-prediction')!.textContent).toContain('95.0%');
    expect($('attack-linf')!.textContent).toContain('0.2000');
    expect($('attack-verdict')!.textContent).toBe('fooled');
    const chart = $('attack-curve')!.querySelector('.dltoolkit-chart');
    expect(chart).not.toBeNull();
    await act(async () => new Promise((r) => setTimeout(r, 50))); // the chart draws on a frame
    expect(chart!.getAttribute('data-points')).toBe('3');
  });

  it('disables the eps slider for CW and DeepFool, and sends them no eps', async () => {
    const { requests } = await render(server(), 'attack');
    await change('attack-name', 'cw');
    expect(($('attack-eps') as HTMLInputElement).disabled).toBe(true);
    expect($('attack-eps-value')!.textContent).toBe('no eps');
    await click('attack-run');
    expect(await requests.find((r) => r.method === 'POST')!.json()).toEqual({
      index: 0,
      attack: 'cw',
      curve: false,
    });
    expect($('attack-curve')).toBeNull();
    await change('attack-name', 'fgsm');
    expect(($('attack-eps') as HTMLInputElement).disabled).toBe(false);
  });

  it('keeps both tabs mounted: a result survives a look at the other tab', async () => {
    const { rerender } = await render(server());
    await click('explain-run');
    await rerender({ tab: 'attack' });
    expect($('inspect')!.dataset.tab).toBe('attack');
    expect($('explain-result')!.closest('[role="tabpanel"]')!.hasAttribute('hidden')).toBe(true);
    await rerender({ tab: 'explain' });
    expect($('explain-result')!.dataset.index).toBe('0');
  });
});
