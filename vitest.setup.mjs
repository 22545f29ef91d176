// jsdom has no canvas: uPlot draws on the canvas mock, which records the calls it gets.
import 'vitest-canvas-mock';

// jsdom has no matchMedia; uPlot asks it for the device pixel ratio when its module loads.
if (!window.matchMedia) {
  window.matchMedia = (query) => ({
    matches: false,
    media: query,
    onchange: null,
    addEventListener() {},
    removeEventListener() {},
    addListener() {},
    removeListener() {},
    dispatchEvent: () => false,
  });
}
