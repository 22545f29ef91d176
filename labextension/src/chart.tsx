/** The shared streaming chart (`@dltoolkit/widgets`, uPlot) as a React component. */
import { MetricTable, StreamChart } from '@dltoolkit/widgets';
import React, { useEffect, useRef } from 'react';

export interface ChartProps {
  /** the rows to draw; the chart redraws when `version` changes */
  table: MetricTable;
  /** bump it after appending rows to `table` */
  version: number;
  metrics: string[];
  title?: string;
  height?: number;
  compact?: boolean;
  /** what the x values are (default `step`) */
  xLabel?: string;
}

/** A `StreamChart` in a div of its own: created on mount, fed on every new `version`, disposed on unmount. */
export function Chart(props: ChartProps): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<StreamChart | null>(null);
  const metricsKey = props.metrics.join('\n');

  useEffect(() => {
    const parent = host.current;
    if (!parent) {
      return;
    }
    const created = new StreamChart(parent, {
      metrics: props.metrics,
      title: props.title,
      height: props.height,
      compact: props.compact,
      xLabel: props.xLabel,
    });
    chart.current = created;
    created.update(props.table);
    let width = 0;
    const observer =
      typeof ResizeObserver === 'undefined'
        ? undefined
        : new ResizeObserver((entries) => {
            const w = Math.floor(entries[0]?.contentRect.width ?? 0);
            if (w > 0 && w !== width) {
              width = w;
              created.resize(w);
            }
          });
    observer?.observe(parent);
    return () => {
      observer?.disconnect();
      created.dispose();
      chart.current = null;
    };
    // a new chart only for a new table, title, height or style; metrics and rows are updates
  }, [props.table, props.title, props.height, props.compact, props.xLabel]);

  useEffect(() => {
    chart.current?.setMetrics(props.metrics);
    chart.current?.update(props.table);
  }, [metricsKey]);

  useEffect(() => {
    chart.current?.update(props.table);
  }, [props.version, props.table]);

  return <div className="dltoolkit-ChartHost" ref={host} />;
}
