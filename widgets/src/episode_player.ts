// Front end of dltoolkit.dashboards.EpisodePlayer (an anywidget ES module): plays an episode's frames
// (PNG/JPEG data URLs in the `frames` trait) with Play/Pause, a frame slider and a speed in fps, and
// shows each frame's step, the reward of the step that led to it and the return so far.
//
// Playing is this view's own: a requestAnimationFrame loop swaps one <img>'s src when a frame is due,
// with no message to the kernel per frame. The frame a view stops on (pause, end, slider) is written to
// the `frame` trait; a `frame` set from Python seeks. `fps` is a trait (the speed box writes it).
//
// Hooks for browser tests: root `[data-testid="episode-player"]` (data-frame, data-playing),
// `episode-frame` (the <img>), `episode-play`, `episode-slider`, `episode-fps`, `episode-return`.
import './dashboards.css';

import type { RenderProps } from '@anywidget/types';

import { el, formatNumber, setText } from './ui';

interface PlayerModel {
  frames: string[];
  steps: number[];
  rewards: number[];
  returns: number[];
  frame: number;
  fps: number;
  frame_step: number;
  title: string;
  autoplay: boolean;
}

const MAX_FPS = 120;
// A focused control's keys are its own (the slider's arrows, Home and End; the button's Enter): without
// this, JupyterLab's notebook shortcuts take them (ArrowDown selects the next cell, Enter edits the cell).
const OWN_KEYS = { 'data-lm-suppress-shortcuts': 'true' };

function render({ model, el: host }: RenderProps<PlayerModel>): () => void {
  const title = el('span', { class: 'dltoolkit-title' });
  const image = el('img', {
    class: 'dltoolkit-episode-frame',
    'data-testid': 'episode-frame',
    alt: 'episode frame',
  });
  const play = el(
    'button',
    { class: 'dltoolkit-button', 'data-testid': 'episode-play', ...OWN_KEYS },
    'Play',
  );
  const slider = el('input', {
    type: 'range',
    min: '0',
    step: '1',
    class: 'dltoolkit-episode-slider',
    'data-testid': 'episode-slider',
    'aria-label': 'frame',
    ...OWN_KEYS,
  });
  const fps = el('input', {
    type: 'number',
    min: '1',
    max: String(MAX_FPS),
    step: '1',
    class: 'dltoolkit-input dltoolkit-episode-fps',
    'data-testid': 'episode-fps',
    'aria-label': 'frames per second',
  });
  const info = el('div', { class: 'dltoolkit-episode-info', 'data-testid': 'episode-return' });
  const root = el(
    'div',
    {
      class: 'dltoolkit-dashboard dltoolkit-episode',
      'data-testid': 'episode-player',
      'data-playing': 'false',
    },
    el('div', { class: 'dltoolkit-header' }, title),
    image,
    el('div', { class: 'dltoolkit-controls' }, play, slider, el('label', {}, fps, ' fps')),
    info,
  );
  host.appendChild(root);

  let index = 0;
  let playing = false;
  let raf = 0;
  let dueAt = 0; // performance.now() when the next frame is due

  const count = (): number => model.get('frames').length;

  function show(i: number): void {
    const frames = model.get('frames');
    index = Math.max(0, Math.min(i, frames.length - 1));
    if (frames.length > 0 && image.getAttribute('src') !== frames[index]) {
      image.src = frames[index];
    }
    slider.value = String(index);
    root.dataset.frame = String(index);
    const steps = model.get('steps');
    const last = steps.length > 0 ? steps[steps.length - 1] : 0;
    const step = steps[index] ?? index;
    const reward = model.get('rewards')[index] ?? 0;
    const total = model.get('returns')[index] ?? 0;
    const k = model.get('frame_step');
    const every = k > 1 ? ` · 1 frame in ${k} shown` : '';
    setText(
      info,
      `step ${step}/${last} · reward ${formatNumber(reward)} · return ${formatNumber(total)}${every}`,
    );
  }

  /** Tell the kernel which frame this view shows (only at rest: never per played frame). */
  function commit(): void {
    if (model.get('frame') !== index) {
      model.set('frame', index);
      model.save_changes();
    }
  }

  function setPlaying(on: boolean): void {
    playing = on && count() > 1;
    setText(play, playing ? 'Pause' : 'Play');
    root.dataset.playing = String(playing);
    cancelAnimationFrame(raf);
    if (playing) {
      dueAt = performance.now() + 1000 / model.get('fps');
      raf = requestAnimationFrame(tick);
    } else {
      commit();
    }
  }

  function tick(now: number): void {
    if (!playing) {
      return;
    }
    if (now >= dueAt) {
      // a late tick (a background tab) shows the frame due now, not every frame it missed
      const period = 1000 / model.get('fps');
      const advance = 1 + Math.floor((now - dueAt) / period);
      dueAt += advance * period;
      show(index + advance);
      if (index >= count() - 1) {
        setPlaying(false);
        return;
      }
    }
    raf = requestAnimationFrame(tick);
  }

  play.addEventListener('click', () => {
    if (!playing && index >= count() - 1) {
      show(0); // Play at the end starts over
    }
    setPlaying(!playing);
  });
  const onSlide = (): void => {
    setPlaying(false);
    show(Number(slider.value));
    commit();
  };
  slider.addEventListener('input', onSlide);
  fps.addEventListener('change', () => {
    const value = Number(fps.value);
    if (Number.isFinite(value) && value > 0 && value <= MAX_FPS) {
      model.set('fps', value);
      model.save_changes();
    } else {
      fps.value = String(model.get('fps')); // out of range: back to the current speed
    }
  });

  const onFrames = (): void => {
    slider.max = String(Math.max(0, count() - 1));
    show(Math.min(index, count() - 1));
  };
  const onFrame = (): void => {
    if (model.get('frame') !== index) {
      show(model.get('frame')); // first: stopping writes the shown frame back
      setPlaying(false);
    }
  };
  const onFps = (): void => {
    fps.value = String(model.get('fps'));
  };
  const onTitle = (): void => setText(title, model.get('title') || 'Episode');
  const handlers: [string, () => void][] = [
    ['change:frames', onFrames],
    ['change:steps', onFrames],
    ['change:rewards', onFrames],
    ['change:returns', onFrames],
    ['change:frame', onFrame],
    ['change:fps', onFps],
    ['change:title', onTitle],
  ];
  for (const [event, handler] of handlers) {
    model.on(event, handler);
  }
  onTitle();
  onFps();
  index = model.get('frame');
  onFrames();
  if (model.get('autoplay')) {
    setPlaying(true);
  }

  return () => {
    playing = false;
    cancelAnimationFrame(raf);
    for (const [event, handler] of handlers) {
      model.off(event as `change:${string}`, handler);
    }
    root.remove();
  };
}

export default { render };
