// @dltoolkit/widgets: the metric table and streaming chart shared by the notebook dashboards and the
// JupyterLab sidebar. Consumers also import the CSS: 'uplot/dist/uPlot.min.css' and
// '@dltoolkit/widgets/src/chart.css' (or widgets/src/chart.css from inside this repository).
export {
  INDEX_COLUMNS,
  MetricTable,
  chooseMainMetric,
  formatDuration,
  groupMetrics,
  lossMetric,
} from './metrics';
export type { MetricRow } from './metrics';
export { PALETTE, StreamChart, chartRenderTimes } from './chart';
export type { StreamChartOptions } from './chart';
