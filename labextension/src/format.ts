/** Pure helpers of the run cards and the run detail: run ids, progress, short numbers. */
import type { RunStatus } from './client';

export interface RunIdParts {
  model: string;
  data: string;
  seed: number;
  /** the launch time as written in the id (the server's local time), `YYYY-mm-dd HH:MM:SS` */
  time: string;
  /** the launch time as a Date (read as this browser's local time) */
  date: Date;
}

const STAMP = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-[0-9a-f]+$/;

/**
 * The parts of a CleanRL-style run id, `<model>__<data>__<seed>__<YYYYmmdd-HHMMSS>-<hex>`
 * (`undefined` for an id of another shape, e.g. a folder made by hand).
 */
export function parseRunId(runId: string): RunIdParts | undefined {
  const parts = runId.split('__');
  if (parts.length < 4) {
    return undefined;
  }
  const stamp = parts[parts.length - 1].match(STAMP);
  const seedText = parts[parts.length - 2];
  if (!stamp || !/^\d+$/.test(seedText)) {
    return undefined;
  }
  const [, y, mo, d, h, mi, s] = stamp;
  return {
    model: parts.slice(0, parts.length - 3).join('__'),
    data: parts[parts.length - 3],
    seed: Number(seedText),
    time: `${y}-${mo}-${d} ${h}:${mi}:${s}`,
    date: new Date(+y, +mo - 1, +d, +h, +mi, +s),
  };
}

/** "just now", "5 min ago", "3 h ago", else the date: how long ago a run started. */
export function timeAgo(date: Date, now: Date = new Date()): string {
  const seconds = (now.getTime() - date.getTime()) / 1000;
  if (!Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 60) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export interface Progress {
  /** 0–100; undefined when the total is unknown and the run not finished */
  percent: number | undefined;
  /** `step 20 / 42 · epoch 1 / 2` */
  text: string;
}

/** A run's progress from its status: steps done of the total, and the epoch. */
export function progressOf(
  status: Pick<RunStatus, 'state' | 'step' | 'total_steps' | 'epoch' | 'max_epochs'>,
): Progress {
  const step = status.step ?? 0;
  const total = status.total_steps ?? undefined;
  let percent: number | undefined;
  if (status.state === 'finished') {
    percent = 100;
  } else if (total && total > 0) {
    percent = Math.max(0, Math.min(100, (100 * step) / total));
  } else if (status.state === 'queued') {
    percent = 0;
  }
  const parts: string[] = [];
  if (status.step !== undefined) {
    parts.push(total ? `step ${step} / ${total}` : `step ${step}`);
  }
  if (status.epoch !== undefined) {
    const maxEpochs = status.max_epochs;
    // Lightning's current_epoch is the epoch running now (0-based), or the count done once ended
    const epoch = status.state === 'running' ? status.epoch + 1 : status.epoch;
    parts.push(maxEpochs && maxEpochs > 0 ? `epoch ${epoch} / ${maxEpochs}` : `epoch ${epoch}`);
  }
  return { percent, text: parts.join(' · ') };
}

/** A metric value in a few significant digits (`0.9843`, `1.2e-5`, `123.4`). */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '–';
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) {
    return value.toExponential(2);
  }
  return String(Number(value.toPrecision(4)));
}

/** A size as browsers show downloads (powers of 1000): `912 B`, `9.3 kB`, `45 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '?';
  }
  if (bytes < 1000) {
    return `${Math.round(bytes)} B`;
  }
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 9.95 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A parity figure, |ONNX Runtime − PyTorch|: `4.8e-7`, or `0` when they agree exactly. */
export function formatDiff(value: number): string {
  return value === 0 ? '0' : value.toExponential(1);
}
