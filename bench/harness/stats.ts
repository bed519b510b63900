/** Small numeric helpers shared by the scenarios and the report. */

/**
 * The median of `values` (the mean of the two middle values for an even count).
 *
 * @throws {Error} when `values` is empty: a scenario that measured nothing is a bug, not a zero.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median() of no values: the scenario recorded no samples.');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/** A duration in milliseconds as text with a unit that keeps 3 significant digits: `4.21 µs`, `18.3 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1e-3) return `${significant(ms * 1e6)} ns`;
  if (ms < 1) return `${significant(ms * 1e3)} µs`;
  if (ms < 1e3) return `${significant(ms)} ms`;
  return `${significant(ms / 1e3)} s`;
}

/** A ratio as text: `31.4×`, `1.08×`. */
export function formatRatio(ratio: number): string {
  return `${significant(ratio)}×`;
}

/** A byte count as mebibytes with two decimals, signed when asked: `+0.42 MB`. */
export function formatMegabytes(bytes: number, { signed = false }: { signed?: boolean } = {}): string {
  const text = `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  return signed && bytes >= 0 ? `+${text}` : text;
}

/** A large count with thousands separators: `2,130,000`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** `value` with 3 significant digits, without exponent notation. */
export function significant(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return value.toFixed(Math.min(digits, 6));
}

/** The count and the noun, singular or plural: `1 round`, `3 rounds`, `5 processes`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : pluralForm}`;
}
