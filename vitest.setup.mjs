// jsdom has no canvas: uPlot draws on the canvas mock, which records the calls it gets.
import "vitest-canvas-mock";
