/** Helpers the scenarios share: labels, looking up measurements, and formatting measured rows. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Measurement } from '../harness/interleave';
import { formatDuration, formatRatio } from '../harness/stats';
import { ROOT } from '../harness/worker';

/** `@langchain/core` as installed, for labels: `@langchain/core 1.2.13`. */
export const LANGCHAIN_LABEL = `@langchain/core ${packageVersion('@langchain/core')}`;

function packageVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** The measurement named `name`. @throws {Error} when the harness did not measure it. */
export function measured(results: ReadonlyMap<string, Measurement>, name: string): Measurement {
  const measurement = results.get(name);
  if (measurement === undefined) throw new Error(`No measurement for "${name}".`);
  return measurement;
}

/** The per-round medians, as `4.1 µs … 4.4 µs` (lowest … highest), to show how stable the rounds were. */
export function roundSpread(measurement: Measurement): string {
  const rounds = measurement.roundMediansMs;
  if (rounds.length < 2) return formatDuration(measurement.medianMs);
  return `${formatDuration(Math.min(...rounds))} … ${formatDuration(Math.max(...rounds))}`;
}

/** `numerator ÷ denominator` formatted as a ratio, or `—` for a row compared with itself. */
export function ratioCell(numerator: Measurement, denominator: Measurement): string {
  return numerator === denominator ? '—' : formatRatio(numerator.medianMs / denominator.medianMs);
}
