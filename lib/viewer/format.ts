import type { LineProblem } from './client';
import type { ViewerError, ViewerRun } from './layout';

/** The JSONL format versions this viewer reads. A line without `v` was written before versions existed: 1. */
const READABLE_VERSIONS: readonly number[] = [1];

/** What {@link readJsonlRuns} found in a file. */
export interface JsonlContents {
  /** The runs, in file order. */
  readonly runs: ViewerRun[];
  /** Lines that were skipped, with why. Blank lines are not problems. */
  readonly problems: LineProblem[];
}

/**
 * Reads the text of a `JsonlTracer` file. A line that is not JSON, not an object, of a version this viewer
 * does not know, missing a required field, or repeating an id already seen is skipped and reported with
 * its line number; the rest of the file is still read.
 *
 * @param text - the whole file.
 * @returns the runs and the problems.
 */
export function readJsonlRuns(text: string): JsonlContents {
  const runs: ViewerRun[] = [];
  const problems: LineProblem[] = [];
  const seen = new Set<string>();
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    const result = toRun(raw, line);
    if (typeof result === 'string') problems.push({ line, message: result });
    else if (seen.has(result.id)) problems.push({ line, message: `run id ${JSON.stringify(result.id)} already appeared on an earlier line` });
    else {
      seen.add(result.id);
      runs.push(result);
    }
  }
  return { runs, problems };
}

// A run, or why the line is not one.
function toRun(raw: string, line: number): ViewerRun | string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return `not JSON (${error instanceof Error ? error.message : String(error)})`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'null' : typeof value}`;
  const record = value as Record<string, unknown>;
  const version = record.v ?? 1;
  if (typeof version !== 'number' || !READABLE_VERSIONS.includes(version)) {
    return `format version ${JSON.stringify(version)} is not one this viewer reads (it reads ${READABLE_VERSIONS.join(', ')}); a newer callscope wrote it`;
  }
  const missing: string[] = [];
  const text = (key: string): string => {
    const field = record[key];
    if (typeof field === 'string' && field !== '') return field;
    missing.push(`\`${key}\` (a non-empty string)`);
    return '';
  };
  const time = (key: string): number => {
    const field = record[key];
    if (typeof field === 'number' && Number.isFinite(field)) return field;
    missing.push(`\`${key}\` (a number of ms since the epoch)`);
    return 0;
  };
  const id = text('id');
  const name = text('name');
  const type = text('type');
  const startTime = time('startTime');
  const endTime = time('endTime');
  const parentRunId = record.parentRunId;
  if (parentRunId !== null && parentRunId !== undefined && typeof parentRunId !== 'string') missing.push('`parentRunId` (a string or null)');
  if (missing.length > 0) return `missing or invalid ${missing.join(', ')}`;
  const error = record.error;
  const metadata = record.metadata;
  return {
    id,
    parentRunId: typeof parentRunId === 'string' ? parentRunId : null,
    name,
    type,
    inputs: record.inputs ?? null,
    outputs: record.outputs ?? null,
    error: error !== null && typeof error === 'object' && !Array.isArray(error) ? (error as ViewerError) : error === null || error === undefined ? null : { message: typeof error === 'string' ? error : JSON.stringify(error) },
    tags: Array.isArray(record.tags) ? record.tags.map(String) : [],
    metadata: metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {},
    startTime,
    endTime: Math.max(startTime, endTime),
    tokenCount: typeof record.tokenCount === 'number' ? record.tokenCount : 0,
    events: Array.isArray(record.events) ? (record.events as { name: string; data: unknown }[]) : [],
    ...(record.llmOutput === undefined ? {} : { llmOutput: record.llmOutput }),
    ...tokenTimesOf(record.tokenTimes, startTime),
    seq: line,
  };
}

// `tokenTimes` of a line: offsets in ms after the run's start; the viewer keeps times since the epoch, as the
// live viewer records them. Anything but an array of finite numbers is ignored (the count still shows).
function tokenTimesOf(offsets: unknown, startTime: number): { tokenTimes?: number[] } {
  if (!Array.isArray(offsets) || offsets.length === 0 || !offsets.every((offset) => typeof offset === 'number' && Number.isFinite(offset))) return {};
  return { tokenTimes: (offsets as number[]).map((offset) => startTime + offset) };
}
