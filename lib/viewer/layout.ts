/**
 * The viewer's layout logic: run trees from flat runs, depth and ordering, the time axis, collapse and
 * filters. Pure functions, no DOM, so they are unit-tested in Node (spec/viewer/layout.spec.ts).
 *
 * The same functions run in the page: page.ts inlines their source text (`Function.prototype.toString`).
 * That is why this module holds only function declarations that use nothing but their arguments, each
 * other and JavaScript built-ins: no imports at run time, no module-level constants, no arrow functions
 * at top level. `LAYOUT_FUNCTIONS` at the end lists them for page.ts; a function missing there is
 * missing in the page (the type of the page's `api` and the browser specs catch that).
 */

/** A run as the viewer shows it: a JSONL line, or a run the live viewer saw start. */
export interface ViewerRun {
  /** The run's id. */
  readonly id: string;
  /** The id of the run it was started in; `null` for a root run. */
  readonly parentRunId: string | null;
  /** The run's name. */
  readonly name: string;
  /** The run's type: `chain`, `llm`, `tool`, `retriever`, or any other string a future writer uses. */
  readonly type: string;
  /** What the run received. */
  inputs: unknown;
  /** What the run returned; `null` when it failed or is still running. */
  outputs: unknown;
  /** What the run failed with, `{ name, message, stack, ... }`; `null` otherwise. */
  error: ViewerError | null;
  /** Tags of the run. */
  readonly tags: readonly string[];
  /** Metadata of the run. */
  metadata: Readonly<Record<string, unknown>>;
  /** When the run started, in ms since the epoch. */
  readonly startTime: number;
  /** When the run ended, in ms since the epoch; `null` while it runs (live mode). */
  endTime: number | null;
  /** Tokens a model run streamed. */
  tokenCount: number;
  /** Custom events dispatched in the run. */
  events: readonly { readonly name: string; readonly data: unknown }[];
  /** What a model reported with its result (token usage, ...), when it did. */
  llmOutput?: unknown;
  /** A model's call parameters (`invocation_params`), when known (live mode). */
  params?: unknown;
  /** When each streamed token arrived, in ms since the epoch, when known (live mode). */
  tokenTimes?: number[];
  /** Where the run comes from, for ties in start time: its line in the file, or its start order. */
  readonly seq: number;
  /**
   * In a page, the fields only the details panel needs, still as JSON text: `inputs`, `outputs`,
   * `metadata`, `events`, `llmOutput`, `params`, `tokenTimes` are read from it by {@link hydrateRun}
   * when the run is shown. Parsing them all up front was most of the time to open a big file.
   */
  lazy?: LazyFields;
}

/** JSON text of a run's fields that {@link hydrateRun} parses on demand. */
export interface LazyFields {
  readonly inputs: string;
  readonly outputs: string;
  /** `''` for `{}`. */
  readonly metadata: string;
  /** `''` when the run has none of `events`, `llmOutput`, `params`, `tokenTimes`. */
  readonly extra: string;
}

/** What a failed run threw, as written by `JsonlTracer`. */
export interface ViewerError {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly stack?: unknown;
  readonly [key: string]: unknown;
}

/** Runs linked into trees. Nodes are indexes into `runs`. */
export interface Forest {
  /** The runs, in the order given. */
  readonly runs: readonly ViewerRun[];
  /** Root nodes (runs without a parent among `runs`), by start time. */
  readonly roots: number[];
  /** Children of each node, by start time (ties: by `seq`). */
  readonly children: number[][];
  /** Parent of each node, `-1` for a root. */
  readonly parent: number[];
  /** Depth of each node: 0 for a root. */
  readonly depth: number[];
}

/** A tick of the time axis. */
export interface AxisTick {
  /** Milliseconds after the axis start. */
  readonly offsetMs: number;
  /** Where the tick is, as a fraction of the axis width (0 to 1). */
  readonly at: number;
  /** The label, such as `250 ms` or `1.5 s`. */
  readonly label: string;
}

/** A time axis shared by the bars of a set of runs. */
export interface TimeAxis {
  /** Start, in ms since the epoch. */
  readonly start: number;
  /** Length in ms (at least 1). */
  readonly span: number;
  readonly ticks: readonly AxisTick[];
}

/** Where a run's bar sits on an axis, as fractions of the axis width. */
export interface BarGeometry {
  readonly left: number;
  readonly width: number;
}

/** What the rows are filtered by; an empty string or `false` means "any". */
export interface RowFilter {
  /** Part of the run's name (case-insensitive). */
  readonly name: string;
  /** The run's type, exactly. */
  readonly type: string;
  /** One of the run's tags, exactly. */
  readonly tag: string;
  /** Only failed runs. */
  readonly errorsOnly: boolean;
  /** Part of the run's inputs or outputs as JSON (case-insensitive). */
  readonly search: string;
}

/**
 * Links runs into trees. A run whose parent is not among `runs` is a root, and so is a run caught in a
 * parent cycle (which only a corrupt file has). Siblings and roots are ordered by start time, then `seq`:
 * concurrent children appear in the order they started, whatever order they ended in.
 *
 * @param runs - the runs, in any order (a JSONL file has children before their parent).
 * @returns the forest, with depth and parent of every node.
 */
export function buildForest(runs: readonly ViewerRun[]): Forest {
  const index = new Map<string, number>();
  for (let i = 0; i < runs.length; i++) index.set((runs[i] as ViewerRun).id, i);
  const children: number[][] = [];
  const parent: number[] = [];
  const depth: number[] = [];
  for (let i = 0; i < runs.length; i++) {
    children.push([]);
    parent.push(-1);
    depth.push(-1);
  }
  for (let i = 0; i < runs.length; i++) {
    const parentId = (runs[i] as ViewerRun).parentRunId;
    const p = parentId === null ? undefined : index.get(parentId);
    if (p !== undefined && p !== i) {
      parent[i] = p;
      (children[p] as number[]).push(i);
    }
  }
  const byStart = function (a: number, b: number): number {
    const ra = runs[a] as ViewerRun;
    const rb = runs[b] as ViewerRun;
    return ra.startTime - rb.startTime || ra.seq - rb.seq;
  };
  const roots: number[] = [];
  for (let i = 0; i < runs.length; i++) if (parent[i] === -1) roots.push(i);
  // Depth first from the roots; whatever is not reached sits on a parent cycle and becomes a root too.
  const place = function (root: number): void {
    depth[root] = 0;
    const stack = [root];
    while (stack.length > 0) {
      const node = stack.pop() as number;
      for (const child of children[node] as number[]) {
        if (depth[child] !== -1) continue;
        depth[child] = (depth[node] as number) + 1;
        stack.push(child);
      }
    }
  };
  roots.forEach(place);
  for (let i = 0; i < runs.length; i++) {
    if (depth[i] !== -1) continue;
    const p = parent[i] as number;
    if (p !== -1) children[p] = (children[p] as number[]).filter((child) => child !== i);
    parent[i] = -1;
    roots.push(i);
    place(i);
  }
  roots.sort(byStart);
  for (const list of children) if (list.length > 1) list.sort(byStart);
  return { runs, roots, children, parent, depth };
}

/**
 * Lists the nodes to show, depth first: every root and, under each node that is not collapsed, its
 * children. With a filter, a node is shown when it matches or one of its descendants does (so a match
 * keeps the path to it); under a collapsed node nothing is shown either way.
 *
 * @param forest - from {@link buildForest}.
 * @param collapsed - ids of collapsed runs.
 * @param matches - when given, which nodes match the filter (from {@link matchFilter}).
 * @returns node indexes in display order.
 */
export function visibleRows(forest: Forest, collapsed: ReadonlySet<string>, matches?: readonly boolean[]): number[] {
  let keep: boolean[] | undefined;
  if (matches !== undefined) {
    // A node is kept when it or a descendant matches: walk every tree once, children before parents.
    keep = matches.slice();
    const order: number[] = [];
    const stack = forest.roots.slice();
    while (stack.length > 0) {
      const node = stack.pop() as number;
      order.push(node);
      for (const child of forest.children[node] as number[]) stack.push(child);
    }
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k] as number;
      if (keep[node] === true) {
        const p = forest.parent[node] as number;
        if (p !== -1) keep[p] = true;
      }
    }
  }
  const out: number[] = [];
  const stack: number[] = [];
  for (let r = forest.roots.length - 1; r >= 0; r--) stack.push(forest.roots[r] as number);
  while (stack.length > 0) {
    const node = stack.pop() as number;
    if (keep !== undefined && keep[node] !== true) continue;
    out.push(node);
    if (collapsed.has((forest.runs[node] as ViewerRun).id)) continue;
    const list = forest.children[node] as number[];
    for (let c = list.length - 1; c >= 0; c--) stack.push(list[c] as number);
  }
  return out;
}

/**
 * Whether a filter asks for anything at all.
 *
 * @param filter - the filter.
 * @returns false when every field is empty (or `false`).
 */
export function filterIsActive(filter: RowFilter): boolean {
  return filter.name !== '' || filter.type !== '' || filter.tag !== '' || filter.errorsOnly || filter.search !== '';
}

/**
 * Which runs match a filter, field by field (all given fields must match).
 *
 * @param runs - the runs.
 * @param filter - what to match.
 * @param searchText - returns the lowercase text searched for a run (its inputs and outputs as JSON); the
 *   page caches it, so a search over 100,000 runs serialises each run once.
 * @returns one boolean per run.
 */
export function matchFilter(runs: readonly ViewerRun[], filter: RowFilter, searchText: (index: number) => string): boolean[] {
  const name = filter.name.toLowerCase();
  const search = filter.search.toLowerCase();
  const out: boolean[] = [];
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as ViewerRun;
    out.push(
      (name === '' || run.name.toLowerCase().includes(name)) &&
        (filter.type === '' || run.type === filter.type) &&
        (filter.tag === '' || run.tags.includes(filter.tag)) &&
        (!filter.errorsOnly || run.error !== null) &&
        (search === '' || searchText(i).includes(search)),
    );
  }
  return out;
}

/**
 * The text a search looks in: a run's inputs and outputs (and error message) as JSON, lowercased.
 *
 * @param run - the run.
 * @returns the text.
 */
export function searchableText(run: ViewerRun): string {
  let text =
    run.lazy !== undefined
      ? run.lazy.inputs + '\n' + run.lazy.outputs
      : JSON.stringify(run.inputs ?? null) + '\n' + JSON.stringify(run.outputs ?? null);
  if (run.error !== null) text += '\n' + (typeof run.error.message === 'string' ? run.error.message : JSON.stringify(run.error.message ?? ''));
  return text.toLowerCase();
}

/**
 * The time axis of a set of runs: from the earliest start to the latest end (a run still going counts
 * until `now`), with ticks at round intervals (1, 2 or 5 times a power of ten ms), about `targetTicks`.
 *
 * @param runs - the runs the axis must hold.
 * @param now - the current time, for runs without an end.
 * @param targetTicks - about how many ticks; @default 6
 * @returns the axis; an empty set of runs gives a 1 ms axis at `now`.
 */
export function timeAxis(runs: readonly ViewerRun[], now: number, targetTicks?: number): TimeAxis {
  let start = Infinity;
  let end = -Infinity;
  for (const run of runs) {
    if (run.startTime < start) start = run.startTime;
    const runEnd = run.endTime ?? Math.max(now, run.startTime);
    if (runEnd > end) end = runEnd;
  }
  if (start === Infinity) {
    start = now;
    end = now;
  }
  const span = Math.max(1, end - start);
  const wanted = targetTicks ?? 6;
  const raw = span / Math.max(1, wanted);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = power;
  for (const factor of [1, 2, 5, 10]) {
    step = factor * power;
    if (step >= raw) break;
  }
  step = Math.max(1, step);
  const ticks: AxisTick[] = [];
  for (let offset = 0; offset <= span + 1e-9; offset += step) {
    ticks.push({ offsetMs: offset, at: offset / span, label: formatDuration(offset) });
  }
  return { start, span, ticks };
}

/**
 * Where a run's bar goes on an axis. A run shorter than a pixel still gets a visible bar: `minWidth`.
 *
 * @param run - the run.
 * @param axis - from {@link timeAxis}.
 * @param now - the current time, for a run without an end.
 * @param minWidth - the smallest width, as a fraction of the axis; @default 0.002
 * @returns left and width as fractions of the axis width, clamped to it.
 */
export function barGeometry(run: ViewerRun, axis: TimeAxis, now: number, minWidth?: number): BarGeometry {
  const end = run.endTime ?? Math.max(now, run.startTime);
  const smallest = minWidth ?? 0.002;
  let left = (run.startTime - axis.start) / axis.span;
  let width = (end - run.startTime) / axis.span;
  left = Math.min(1, Math.max(0, left));
  width = Math.max(smallest, Math.min(1 - left, width));
  if (left + width > 1) left = Math.max(0, 1 - width);
  return { left, width };
}

/**
 * A duration for people: `0 ms`, `12 ms`, `1.5 s`, `2 min 5 s`.
 *
 * @param ms - milliseconds.
 * @returns the text.
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return String(Math.round(ms)) + ' ms';
  if (ms < 60_000) {
    const seconds = ms / 1000;
    return (seconds < 10 ? String(Math.round(seconds * 100) / 100) : String(Math.round(seconds * 10) / 10)) + ' s';
  }
  const minutes = Math.floor(ms / 60_000);
  return String(minutes) + ' min ' + String(Math.round((ms - minutes * 60_000) / 1000)) + ' s';
}

/** What a model run's token timeline shows. */
export interface TokenStats {
  /** Tokens streamed. */
  readonly count: number;
  /** From the run's start to the first token, in ms, when token times are known. */
  readonly timeToFirstToken: number | null;
  /** Tokens per second: over the streaming time when token times are known, else over the run's duration. */
  readonly tokensPerSecond: number | null;
  /** Each token's time after the run's start, in ms, when known. */
  readonly offsets: readonly number[];
}

/**
 * Token statistics of a run: time to first token and throughput. JsonlTracer and the live viewer record
 * when each token arrived; for lines written before JsonlTracer recorded `tokenTimes` only the count is
 * known, so throughput is then over the whole run and the time to first token unknown.
 *
 * @param run - the run.
 * @returns the statistics.
 */
export function tokenStats(run: ViewerRun): TokenStats {
  const times = run.tokenTimes ?? [];
  const count = Math.max(run.tokenCount, times.length);
  if (times.length > 0) {
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    const streaming = last - first;
    return {
      count,
      timeToFirstToken: first - run.startTime,
      tokensPerSecond: times.length > 1 && streaming > 0 ? ((times.length - 1) * 1000) / streaming : null,
      offsets: times.map((time) => time - run.startTime),
    };
  }
  const duration = run.endTime === null ? 0 : run.endTime - run.startTime;
  return { count, timeToFirstToken: null, tokensPerSecond: count > 0 && duration > 0 ? (count * 1000) / duration : null, offsets: [] };
}

/**
 * The runs of the tree that holds a node, root first: what the axis zooms to.
 *
 * @param forest - the forest.
 * @param node - any node of the tree.
 * @returns the tree's nodes.
 */
export function treeOf(forest: Forest, node: number): number[] {
  let root = node;
  while ((forest.parent[root] as number) !== -1) root = forest.parent[root] as number;
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const current = stack.pop() as number;
    out.push(current);
    for (const child of forest.children[current] as number[]) stack.push(child);
  }
  return out;
}

/**
 * Runs in the compact, column-wise form a static page carries: ids of parents as positions, names, types
 * and tags as indexes into a string table, times relative to the first start, and the fields only the
 * details panel needs as JSON text. It is about half the size of the runs as JSON objects and parses
 * several times faster in the page (JSON text inside strings is scanned, not built into objects).
 */
export interface PackedRuns {
  /** Earliest start time; `start` is relative to it. */
  readonly base: number;
  /** Names, types and tags. */
  readonly strings: string[];
  readonly id: string[];
  /** Position of the parent in these columns; the parent's id when it is not among the runs; `-1` for none. */
  readonly parent: (number | string)[];
  readonly name: number[];
  readonly type: number[];
  readonly start: number[];
  /** `endTime - startTime`; `-1` while running. */
  readonly duration: number[];
  readonly tokens: number[];
  /** Index into `tagSets`. */
  readonly tags: number[];
  /** Distinct tag lists, as indexes into `strings`. */
  readonly tagSets: number[][];
  /** The error as JSON text; `''` when the run did not fail. */
  readonly error: string[];
  readonly inputs: string[];
  readonly outputs: string[];
  readonly metadata: string[];
  readonly extra: string[];
}

/**
 * Packs runs for a page; {@link unpackRuns} gives them back, in `seq` order with `seq` their position.
 *
 * @param runs - the runs.
 * @returns the packed columns.
 */
export function packRuns(runs: readonly ViewerRun[]): PackedRuns {
  const ordered = runs.slice().sort((a, b) => a.seq - b.seq);
  const position = new Map<string, number>();
  ordered.forEach((run, i) => position.set(run.id, i));
  const strings: string[] = [];
  const stringIndex = new Map<string, number>();
  const intern = function (text: string): number {
    let found = stringIndex.get(text);
    if (found === undefined) {
      found = strings.length;
      strings.push(text);
      stringIndex.set(text, found);
    }
    return found;
  };
  const tagSets: number[][] = [];
  const tagSetIndex = new Map<string, number>();
  let base = Infinity;
  for (const run of ordered) if (run.startTime < base) base = run.startTime;
  if (base === Infinity) base = 0;
  const packed: PackedRuns = {
    base,
    strings,
    id: [],
    parent: [],
    name: [],
    type: [],
    start: [],
    duration: [],
    tokens: [],
    tags: [],
    tagSets,
    error: [],
    inputs: [],
    outputs: [],
    metadata: [],
    extra: [],
  };
  for (const run of ordered) {
    packed.id.push(run.id);
    packed.parent.push(run.parentRunId === null ? -1 : (position.get(run.parentRunId) ?? run.parentRunId));
    packed.name.push(intern(run.name));
    packed.type.push(intern(run.type));
    packed.start.push(run.startTime - base);
    packed.duration.push(run.endTime === null ? -1 : run.endTime - run.startTime);
    packed.tokens.push(run.tokenCount);
    const tagList = run.tags.map(intern);
    const tagKey = tagList.join(',');
    let tagSet = tagSetIndex.get(tagKey);
    if (tagSet === undefined) {
      tagSet = tagSets.length;
      tagSets.push(tagList);
      tagSetIndex.set(tagKey, tagSet);
    }
    packed.tags.push(tagSet);
    packed.error.push(run.error === null ? '' : JSON.stringify(run.error));
    packed.inputs.push(JSON.stringify(run.inputs === undefined ? null : run.inputs));
    packed.outputs.push(JSON.stringify(run.outputs === undefined ? null : run.outputs));
    packed.metadata.push(Object.keys(run.metadata).length === 0 ? '' : JSON.stringify(run.metadata));
    const extra: Record<string, unknown> = {};
    if (run.events.length > 0) extra.events = run.events;
    if (run.llmOutput !== undefined) extra.llmOutput = run.llmOutput;
    if (run.params !== undefined) extra.params = run.params;
    if (run.tokenTimes !== undefined) extra.tokenTimes = run.tokenTimes;
    packed.extra.push(Object.keys(extra).length === 0 ? '' : JSON.stringify(extra));
  }
  return packed;
}

/**
 * Unpacks what {@link packRuns} packed. Errors, tags and timings are read at once (rows and filters need
 * them); the rest stays JSON text in `lazy` until {@link hydrateRun}.
 *
 * @param packed - the columns.
 * @returns the runs, `seq` being their position.
 */
export function unpackRuns(packed: PackedRuns): ViewerRun[] {
  const runs: ViewerRun[] = [];
  const tagLists = packed.tagSets.map((set) => set.map((i) => packed.strings[i] as string));
  for (let i = 0; i < packed.id.length; i++) {
    const parent = packed.parent[i] as number | string;
    const startTime = packed.base + (packed.start[i] as number);
    const duration = packed.duration[i] as number;
    const error = packed.error[i] as string;
    runs.push({
      id: packed.id[i] as string,
      parentRunId: typeof parent === 'string' ? parent : parent === -1 ? null : (packed.id[parent] as string),
      name: packed.strings[packed.name[i] as number] as string,
      type: packed.strings[packed.type[i] as number] as string,
      inputs: undefined,
      outputs: undefined,
      error: error === '' ? null : (JSON.parse(error) as ViewerError),
      tags: tagLists[packed.tags[i] as number] as string[],
      metadata: {},
      startTime,
      endTime: duration === -1 ? null : startTime + duration,
      tokenCount: packed.tokens[i] as number,
      events: [],
      seq: i,
      lazy: {
        inputs: packed.inputs[i] as string,
        outputs: packed.outputs[i] as string,
        metadata: packed.metadata[i] as string,
        extra: packed.extra[i] as string,
      },
    });
  }
  return runs;
}

/**
 * Parses the fields of a run kept as JSON text (see {@link unpackRuns}); does nothing for a run that has
 * none.
 *
 * @param run - the run, changed in place.
 * @returns the same run.
 */
export function hydrateRun(run: ViewerRun): ViewerRun {
  const lazy = run.lazy;
  if (lazy === undefined) return run;
  run.inputs = JSON.parse(lazy.inputs);
  run.outputs = JSON.parse(lazy.outputs);
  run.metadata = lazy.metadata === '' ? {} : (JSON.parse(lazy.metadata) as Record<string, unknown>);
  if (lazy.extra !== '') {
    const extra = JSON.parse(lazy.extra) as Pick<ViewerRun, 'events' | 'llmOutput' | 'params' | 'tokenTimes'>;
    if (extra.events !== undefined) run.events = extra.events;
    if (extra.llmOutput !== undefined) run.llmOutput = extra.llmOutput;
    if (extra.params !== undefined) run.params = extra.params;
    if (extra.tokenTimes !== undefined) run.tokenTimes = extra.tokenTimes;
  }
  run.lazy = undefined;
  return run;
}

/**
 * {@link PackedRuns} as text for a page: a first line of JSON with the small columns, then one line per
 * value of the JSON-text columns (`inputs`, then `outputs`, `metadata`, `extra`). JSON text has no raw
 * line breaks, so splitting on them gives the values back; the page then never unescapes them as
 * strings inside JSON, which was most of the time spent reading a big file.
 *
 * @param packed - the packed runs.
 * @returns the text.
 */
export function packedToText(packed: PackedRuns): string {
  const { inputs, outputs, metadata, extra, ...columns } = packed;
  return [JSON.stringify(columns), ...inputs, ...outputs, ...metadata, ...extra].join('\n');
}

/**
 * Reads what {@link packedToText} wrote.
 *
 * @param text - the text.
 * @returns the packed runs.
 */
export function packedFromText(text: string): PackedRuns {
  const lines = text.split('\n');
  const columns = JSON.parse(lines[0] as string) as Omit<PackedRuns, 'inputs' | 'outputs' | 'metadata' | 'extra'>;
  const count = columns.id.length;
  return {
    ...columns,
    inputs: lines.slice(1, 1 + count),
    outputs: lines.slice(1 + count, 1 + 2 * count),
    metadata: lines.slice(1 + 2 * count, 1 + 3 * count),
    extra: lines.slice(1 + 3 * count, 1 + 4 * count),
  };
}

/** Every function of this module by name, for page.ts to inline in the page. */
export const LAYOUT_FUNCTIONS = {
  buildForest,
  visibleRows,
  filterIsActive,
  matchFilter,
  searchableText,
  timeAxis,
  barGeometry,
  formatDuration,
  tokenStats,
  treeOf,
  packRuns,
  unpackRuns,
  hydrateRun,
  packedFromText,
};
