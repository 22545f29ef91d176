import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { Render, Stage } from './fake_model';

let renderPlayer: Render;

beforeAll(async () => {
  renderPlayer = (await import('../src/episode_player')).default.render as unknown as Render;
});

// the frames are tiny distinct data URLs: the test reads which one the <img> shows
const FRAMES = Array.from({ length: 6 }, (_, i) => `data:image/png;base64,frame${i}`);

function state(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    frames: FRAMES,
    steps: [0, 1, 2, 3, 4, 5],
    rewards: [0, 1, 1, 1, 1, 1],
    returns: [0, 1, 2, 3, 4, 5],
    frame: 0,
    fps: 10,
    frame_step: 1,
    title: 'CartPole-v1 · seed 0',
    autoplay: false,
    ...overrides,
  };
}

const stage = new Stage();
const mount = (initial: Record<string, unknown>) => stage.mount(renderPlayer, initial);
const q = <T extends HTMLElement>(id: string): T =>
  stage.host.querySelector<T>(`[data-testid="${id}"]`)!;
const shown = (): number =>
  FRAMES.indexOf(q<HTMLImageElement>('episode-frame').getAttribute('src')!);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['requestAnimationFrame', 'cancelAnimationFrame', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
  stage.remove();
});

describe('episode player', () => {
  it('shows the frame, its step, reward and return, and seeks with the slider', () => {
    const [model, cleanup] = mount(state({ frame: 2 }));
    expect(q('episode-player').textContent).toContain('CartPole-v1 · seed 0');
    expect(shown()).toBe(2);
    expect(q('episode-return').textContent).toBe('step 2/5 · reward 1 · return 2');
    expect(q('episode-player').dataset.playing).toBe('false');
    const slider = q<HTMLInputElement>('episode-slider');
    // the slider's arrow keys and the button's Enter are theirs, not JupyterLab's notebook shortcuts'
    expect(slider.hasAttribute('data-lm-suppress-shortcuts')).toBe(true);
    expect(q('episode-play').hasAttribute('data-lm-suppress-shortcuts')).toBe(true);
    expect(slider.max).toBe('5');
    slider.value = '4';
    slider.dispatchEvent(new Event('input'));
    expect(shown()).toBe(4);
    expect(q('episode-return').textContent).toBe('step 4/5 · reward 1 · return 4');
    // the kernel learns the frame a view rests on
    expect(model.get('frame')).toBe(4);
    expect(model.saved).toBe(1);
    cleanup();
  });

  it('plays at the trait fps without a kernel message per frame, and stops at the end', () => {
    const [model, cleanup] = mount(state());
    const play = q<HTMLButtonElement>('episode-play');
    play.click();
    expect(play.textContent).toBe('Pause');
    expect(q('episode-player').dataset.playing).toBe('true');
    vi.advanceTimersByTime(250); // 10 fps: frames 1 and 2 are due
    expect(shown()).toBe(2);
    expect(model.saved).toBe(0);
    play.click(); // pause: the frame goes to the kernel
    expect(play.textContent).toBe('Play');
    expect(model.get('frame')).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(shown()).toBe(2);
    // faster, then to the end: playing stops on the last frame
    const fps = q<HTMLInputElement>('episode-fps');
    fps.value = '50';
    fps.dispatchEvent(new Event('change'));
    expect(model.get('fps')).toBe(50);
    play.click();
    vi.advanceTimersByTime(130); // 50 fps: 3 frames due (2 -> 5, the last)
    expect(shown()).toBe(5);
    expect(play.textContent).toBe('Play');
    expect(model.get('frame')).toBe(5);
    expect(q('episode-return').textContent).toBe('step 5/5 · reward 1 · return 5');
    // Play at the end starts over
    play.click();
    expect(shown()).toBe(0);
    cleanup();
  });

  it('follows the kernel: a frame set in Python seeks, new frames and fps show', () => {
    const [model, cleanup] = mount(state({ autoplay: true }));
    expect(q('episode-play').textContent).toBe('Pause');
    model.set('frame', 3); // from Python: stops playing and shows it
    expect(shown()).toBe(3);
    expect(q('episode-play').textContent).toBe('Play');
    expect(model.get('frame')).toBe(3);
    model.set('fps', 24);
    expect(q<HTMLInputElement>('episode-fps').value).toBe('24');
    // an out-of-range speed typed in goes back to the current one
    const fps = q<HTMLInputElement>('episode-fps');
    fps.value = '0';
    fps.dispatchEvent(new Event('change'));
    expect(fps.value).toBe('24');
    expect(model.get('fps')).toBe(24);
    // a new, shorter episode (every 2nd frame sent)
    model.set('frame_step', 2);
    model.set('steps', [0, 2]);
    model.set('returns', [0, 2]);
    model.set('rewards', [0, 2]);
    model.set('frames', FRAMES.slice(0, 2));
    expect(shown()).toBe(1);
    expect(q<HTMLInputElement>('episode-slider').max).toBe('1');
    expect(q('episode-return').textContent).toBe(
      'step 2/2 · reward 2 · return 2 · 1 frame in 2 shown',
    );
    cleanup();
  });

  it('cleans up: no listeners, no element, no animation left after dispose', () => {
    const [model, cleanup] = mount(state({ autoplay: true }));
    expect(model.listeners()).toBeGreaterThan(0);
    expect(vi.getTimerCount()).toBe(1); // the pending animation frame
    cleanup();
    expect(model.listeners()).toBe(0);
    expect(stage.host.querySelector('[data-testid="episode-player"]')).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });
});
