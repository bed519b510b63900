/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The script of the viewer page. `viewerClient` runs in the browser: page.ts inlines its source text
 * (`Function.prototype.toString`) after the layout functions, which it receives as `api`. So it must use
 * nothing from outside its own body but `api`, its `boot` argument and browser built-ins: no imports at
 * run time, no module-level values. Only `import type` is allowed (erased at compile time).
 */
import type * as Layout from './layout';
import type { LAYOUT_FUNCTIONS, PackedRuns, ViewerRun } from './layout';

/** The layout functions, as the page hands them to {@link viewerClient}. */
export type LayoutApi = typeof LAYOUT_FUNCTIONS;

/** A line of the file that was not shown, and why. */
export interface LineProblem {
  /** 1-based line number in the file. */
  readonly line: number;
  /** What is wrong with it. */
  readonly message: string;
}

/** What the page starts from: the runs of a static page, or the address of a live viewer's events. */
export interface ViewerBoot {
  readonly mode: 'static' | 'live';
  /** Shown in the header: the file name, or "live". */
  readonly title: string;
  /** Runs of a static page, packed (see `packRuns`). */
  readonly packed?: PackedRuns;
  /** Lines of the file that were skipped. */
  readonly problems: readonly LineProblem[];
  /** Live mode: the path of the server-sent events, relative to the page. */
  readonly events?: string;
}

/**
 * Reads the runs of a static page: base64 of gzipped text (see page.ts), inflated by the browser's own
 * `DecompressionStream` (no request of any kind: `Response` here only collects a stream).
 *
 * @param base64 - the text of the page's runs element.
 * @returns the inflated text, for `packedFromText`.
 */
export async function inflateText(base64: string): Promise<string> {
  const binary = atob(base64.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).text();
}

/**
 * Builds the viewer in the current document.
 *
 * @param api - the layout functions.
 * @param boot - the data or live source.
 */
export function viewerClient(api: LayoutApi, boot: ViewerBoot): void {
  const ROW = 24;
  const OVERSCAN = 12;
  const INDENT = 14;
  const MAX_TEXT = 200_000;

  const byId = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] => {
    const node = document.createElement(tag);
    if (className !== undefined) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  let runs: ViewerRun[] = boot.packed === undefined ? [] : api.unpackRuns(boot.packed);
  const index = new Map<string, ViewerRun>();
  runs.forEach((run) => index.set(run.id, run));
  // Node of each run id in `forest`.
  let nodes = new Map<string, number>();
  runs.forEach((run, node) => nodes.set(run.id, node));
  let forest = api.buildForest(runs);
  let rows: number[] = [];
  let searchCache: (string | undefined)[] = [];
  const collapsed = new Set<string>();
  let selectedId: string | null = null;
  let zoom = false;
  let dirty = false;
  const live = boot.mode === 'live';
  let liveState = live ? 'connecting' : '';

  const viewport = byId('viewport');
  const spacer = byId('spacer');
  const rowsBox = byId('rows');
  const axisBox = byId('axis-ticks');
  const details = byId('details');
  const nameInput = byId('filter-name') as HTMLInputElement;
  const typeSelect = byId('filter-type') as HTMLSelectElement;
  const tagInput = byId('filter-tag') as HTMLInputElement;
  const errorsBox = byId('filter-errors') as HTMLInputElement;
  const searchInput = byId('filter-search') as HTMLInputElement;
  byId('source').textContent = boot.title;

  function filterNow(): Layout.RowFilter {
    return { name: nameInput.value.trim(), type: typeSelect.value, tag: tagInput.value.trim(), errorsOnly: errorsBox.checked, search: searchInput.value.trim() };
  }

  function searchText(i: number): string {
    let text = searchCache[i];
    if (text === undefined) {
      text = api.searchableText(runs[i] as ViewerRun);
      searchCache[i] = text;
    }
    return text;
  }

  function recompute(): void {
    const filter = filterNow();
    const matches = api.filterIsActive(filter) ? api.matchFilter(runs, filter, searchText) : undefined;
    rows = api.visibleRows(forest, collapsed, matches);
    spacer.style.height = String(rows.length * ROW) + 'px';
    summary();
    render();
  }

  function rebuild(): void {
    forest = api.buildForest(runs);
    nodes = new Map();
    runs.forEach((run, node) => nodes.set(run.id, node));
    searchCache = [];
    tagOptions();
    recompute();
  }

  function summary(): void {
    let errors = 0;
    for (const run of runs) if (run.error !== null) errors++;
    const parts = [String(runs.length) + ' runs', String(forest.roots.length) + ' traces', String(errors) + ' errors'];
    if (rows.length !== runs.length) parts.push(String(rows.length) + ' shown');
    if (live) parts.push(liveState);
    byId('summary').textContent = parts.join(' · ');
  }

  function tagOptions(): void {
    const tags = new Set<string>();
    for (const run of runs) for (const tag of run.tags) tags.add(tag);
    const list = byId('tags');
    list.textContent = '';
    Array.from(tags).sort().slice(0, 500).forEach((tag) => {
      const option = el('option');
      option.value = tag;
      list.appendChild(option);
    });
  }

  function axisRuns(): ViewerRun[] {
    const selected = selectedNode();
    if (!zoom || selected === -1) return runs;
    return api.treeOf(forest, selected).map((node) => runs[node] as ViewerRun);
  }

  function selectedNode(): number {
    if (selectedId === null) return -1;
    return nodes.get(selectedId) ?? -1;
  }

  function render(): void {
    const now = Date.now();
    const axis = api.timeAxis(axisRuns(), now, 6);
    axisBox.textContent = '';
    for (const tick of axis.ticks) {
      const mark = el('span', 'tick', tick.label);
      mark.style.left = String(tick.at * 100) + '%';
      axisBox.appendChild(mark);
    }
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW) + OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let r = first; r < last; r++) fragment.appendChild(rowElement(r, rows[r] as number, axis, now));
    rowsBox.textContent = '';
    rowsBox.appendChild(fragment);
  }

  function rowElement(position: number, node: number, axis: Layout.TimeAxis, now: number): HTMLElement {
    const run = runs[node] as ViewerRun;
    const depth = forest.depth[node] as number;
    const hasChildren = (forest.children[node] as number[]).length > 0;
    const row = el('div', 'row t-' + run.type + (run.error !== null ? ' error' : '') + (run.endTime === null ? ' running' : '') + (run.id === selectedId ? ' selected' : ''));
    row.style.top = String(position * ROW) + 'px';
    row.dataset.id = run.id;
    row.dataset.depth = String(depth);
    row.setAttribute('role', 'treeitem');
    row.setAttribute('aria-level', String(depth + 1));
    row.setAttribute('aria-selected', String(run.id === selectedId));
    const label = el('span', 'label');
    label.style.paddingLeft = String(depth * INDENT + 4) + 'px';
    const toggle = el('span', 'toggle', hasChildren ? (collapsed.has(run.id) ? '▸' : '▾') : '');
    if (hasChildren) row.setAttribute('aria-expanded', String(!collapsed.has(run.id)));
    label.appendChild(toggle);
    label.appendChild(el('span', 'badge', run.type));
    label.appendChild(el('span', 'name', run.name));
    if (run.tokenCount > 0) label.appendChild(el('span', 'tokens', String(run.tokenCount) + ' tok'));
    if (run.error !== null) label.appendChild(el('span', 'message', errorLine(run)));
    row.appendChild(label);
    const track = el('span', 'track');
    const geometry = api.barGeometry(run, axis, now, 0.002);
    const bar = el('span', 'bar');
    bar.style.left = String(geometry.left * 100) + '%';
    bar.style.width = String(geometry.width * 100) + '%';
    track.appendChild(bar);
    const duration = el('span', 'duration', run.endTime === null ? 'running' : api.formatDuration(run.endTime - run.startTime));
    // After the bar; near the right edge, inside the bar when it is wide enough, else before it.
    if (geometry.left + geometry.width <= 0.85) duration.style.left = String((geometry.left + geometry.width) * 100) + '%';
    else if (geometry.width > 0.12) {
      duration.className = 'duration inside';
      duration.style.right = String((1 - geometry.left - geometry.width) * 100) + '%';
    } else {
      duration.className = 'duration before';
      duration.style.right = String((1 - geometry.left) * 100) + '%';
    }
    track.appendChild(duration);
    row.appendChild(track);
    return row;
  }

  function errorLine(run: ViewerRun): string {
    const error = run.error;
    if (error === null) return '';
    const name = typeof error.name === 'string' ? error.name : 'Error';
    return name + ': ' + (typeof error.message === 'string' ? error.message : JSON.stringify(error.message ?? ''));
  }

  function json(value: unknown): string {
    let text: string;
    try {
      text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    } catch {
      text = String(value);
    }
    if (text === undefined) text = 'undefined';
    return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + '\n… (' + String(text.length - MAX_TEXT) + ' more characters)' : text;
  }

  function section(title: string, body: Node | string): void {
    const box = el('section');
    box.appendChild(el('h3', undefined, title));
    box.appendChild(typeof body === 'string' ? el('pre', undefined, body) : body);
    details.appendChild(box);
  }

  function showDetails(): void {
    details.textContent = '';
    const found = selectedId === null ? undefined : index.get(selectedId);
    if (found === undefined) {
      details.appendChild(el('p', 'hint', 'Select a run to see its inputs, outputs, error, tags, metadata and tokens. Keys: ↑ ↓ select, ← → collapse and expand, Enter toggles, / searches, z fits the axis to the selected trace.'));
      return;
    }
    const run = api.hydrateRun(found);
    const head = el('div', 'head t-' + run.type + (run.error !== null ? ' error' : ''));
    head.appendChild(el('span', 'badge', run.type));
    head.appendChild(el('h2', undefined, run.name));
    details.appendChild(head);
    const facts = el('dl');
    const fact = (term: string, value: string): void => {
      facts.appendChild(el('dt', undefined, term));
      facts.appendChild(el('dd', undefined, value));
    };
    fact('status', run.endTime === null ? 'running' : run.error !== null ? 'failed' : 'ok');
    fact('duration', run.endTime === null ? 'running for ' + api.formatDuration(Date.now() - run.startTime) : api.formatDuration(run.endTime - run.startTime));
    fact('started', new Date(run.startTime).toISOString());
    fact('id', run.id);
    if (run.parentRunId !== null) fact('parent', run.parentRunId);
    details.appendChild(facts);
    if (run.error !== null) {
      const error = el('div', 'error-box');
      error.appendChild(el('strong', undefined, errorLine(run)));
      if (typeof run.error.stack === 'string') error.appendChild(el('pre', 'stack', run.error.stack));
      const rest: Record<string, unknown> = {};
      for (const key of Object.keys(run.error)) if (key !== 'name' && key !== 'message' && key !== 'stack') rest[key] = run.error[key];
      if (Object.keys(rest).length > 0) error.appendChild(el('pre', undefined, json(rest)));
      section('Error', error);
    }
    section('Inputs', json(run.inputs));
    if (run.error === null) section('Outputs', run.endTime === null ? '(running)' : json(run.outputs));
    section('Tags', run.tags.length > 0 ? run.tags.join(', ') : '(none)');
    section('Metadata', Object.keys(run.metadata).length > 0 ? json(run.metadata) : '(none)');
    if (run.type === 'llm') {
      if (run.params !== undefined) section('Model parameters', json(run.params));
      if (run.llmOutput !== undefined) section('Usage and provider output', json(run.llmOutput));
      section('Tokens', tokenTimeline(run));
    }
    if (run.events.length > 0) section('Custom events', json(run.events));
  }

  function tokenTimeline(run: ViewerRun): HTMLElement {
    const stats = api.tokenStats(run);
    const box = el('div', 'token-box');
    const line = [String(stats.count) + ' tokens'];
    line.push(stats.timeToFirstToken === null ? 'time to first token: not recorded (the line has the token count only)' : 'time to first token: ' + api.formatDuration(stats.timeToFirstToken));
    if (stats.tokensPerSecond !== null) line.push((Math.round(stats.tokensPerSecond * 10) / 10).toString() + ' tokens/s' + (stats.offsets.length > 0 ? '' : ' over the whole run'));
    box.appendChild(el('p', 'token-stats', line.join(' · ')));
    if (stats.offsets.length > 0) {
      const track = el('div', 'token-track');
      const end = run.endTime ?? Date.now();
      const span = Math.max(1, end - run.startTime);
      const step = Math.max(1, Math.ceil(stats.offsets.length / 400));
      for (let t = 0; t < stats.offsets.length; t += step) {
        const mark = el('span', 'token-mark');
        mark.style.left = String(Math.min(1, (stats.offsets[t] as number) / span) * 100) + '%';
        track.appendChild(mark);
      }
      box.appendChild(track);
    }
    return box;
  }

  function select(id: string | null, scroll: boolean): void {
    selectedId = id;
    if (scroll && id !== null) {
      const position = rows.findIndex((node) => (runs[node] as ViewerRun).id === id);
      if (position !== -1) {
        const top = position * ROW;
        if (top < viewport.scrollTop) viewport.scrollTop = top;
        else if (top + ROW > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + ROW - viewport.clientHeight;
      }
    }
    render();
    showDetails();
  }

  function toggle(id: string, open?: boolean): void {
    const isOpen = !collapsed.has(id);
    const wanted = open ?? !isOpen;
    if (wanted === isOpen) return;
    if (wanted) collapsed.delete(id);
    else collapsed.add(id);
    recompute();
  }

  function move(delta: number): void {
    if (rows.length === 0) return;
    const current = rows.findIndex((node) => (runs[node] as ViewerRun).id === selectedId);
    // With nothing selected, "down" starts at the first row and End goes to the last.
    const next = Math.max(0, Math.min(rows.length - 1, current === -1 ? Math.max(0, delta - 1) : current + delta));
    select((runs[rows[next] as number] as ViewerRun).id, true);
  }

  viewport.addEventListener('scroll', () => render());
  window.addEventListener('resize', () => render());
  rowsBox.addEventListener('click', (event) => {
    const target = event.target as HTMLElement;
    const row = target.closest<HTMLElement>('.row');
    const id = row?.dataset.id;
    if (id === undefined) return;
    if (target.classList.contains('toggle')) toggle(id);
    select(id, false);
    viewport.focus();
  });
  viewport.addEventListener('keydown', (event) => {
    const node = selectedNode();
    const page = Math.max(1, Math.floor(viewport.clientHeight / ROW) - 1);
    switch (event.key) {
      case 'ArrowDown':
        move(1);
        break;
      case 'ArrowUp':
        move(-1);
        break;
      case 'PageDown':
        move(page);
        break;
      case 'PageUp':
        move(-page);
        break;
      case 'Home':
        move(-rows.length);
        break;
      case 'End':
        move(rows.length);
        break;
      case 'ArrowRight':
        if (node === -1) move(0);
        else if ((forest.children[node] as number[]).length > 0 && collapsed.has(selectedId as string)) toggle(selectedId as string, true);
        else move(1);
        break;
      case 'ArrowLeft':
        if (node === -1) break;
        if ((forest.children[node] as number[]).length > 0 && !collapsed.has(selectedId as string)) toggle(selectedId as string, false);
        else if ((forest.parent[node] as number) !== -1) select((runs[forest.parent[node] as number] as ViewerRun).id, true);
        break;
      case 'Enter':
      case ' ':
        if (selectedId !== null) toggle(selectedId);
        break;
      case 'z':
        zoom = !zoom;
        render();
        break;
      default:
        return;
    }
    event.preventDefault();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === '/' && document.activeElement !== searchInput) {
      event.preventDefault();
      searchInput.focus();
    }
  });
  for (const input of [nameInput, tagInput, searchInput]) input.addEventListener('input', () => recompute());
  for (const input of [typeSelect, errorsBox]) input.addEventListener('change', () => recompute());
  byId('expand-all').addEventListener('click', () => {
    collapsed.clear();
    recompute();
  });
  byId('collapse-all').addEventListener('click', () => {
    forest.roots.forEach((root) => {
      if ((forest.children[root] as number[]).length > 0) collapsed.add((runs[root] as ViewerRun).id);
    });
    recompute();
  });
  byId('zoom').addEventListener('click', () => {
    zoom = !zoom;
    render();
  });

  if (boot.problems.length > 0) {
    const box = byId('problems');
    box.hidden = false;
    byId('problems-title').textContent = String(boot.problems.length) + (boot.problems.length === 1 ? ' line was' : ' lines were') + ' skipped';
    const list = byId('problems-list');
    boot.problems.slice(0, 1000).forEach((problem) => list.appendChild(el('li', undefined, 'line ' + String(problem.line) + ': ' + problem.message)));
  }

  tagOptions();
  recompute();
  showDetails();
  document.body.dataset.ready = 'true';
  // For the viewer-open benchmark: from navigation start to the first rows on screen.
  performance.mark('callscope-ready');

  if (live && boot.events !== undefined) {
    // Events are applied in batches, once per animation frame: a busy agent sends many.
    const schedule = (): void => {
      if (dirty) return;
      dirty = true;
      requestAnimationFrame(() => {
        dirty = false;
        rebuild();
        if (selectedId !== null) showDetails();
      });
    };
    const source = new EventSource(boot.events);
    source.addEventListener('open', () => {
      liveState = 'live';
      summary();
    });
    source.addEventListener('error', () => {
      liveState = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting';
      summary();
    });
    source.addEventListener('snapshot', (event) => {
      runs = (JSON.parse((event as MessageEvent<string>).data) as { runs: ViewerRun[] }).runs;
      index.clear();
      runs.forEach((run) => index.set(run.id, run));
      // At once, not on the next frame: the rows on screen index into the runs just replaced.
      rebuild();
    });
    source.addEventListener('start', (event) => {
      const run = JSON.parse((event as MessageEvent<string>).data) as ViewerRun;
      if (index.has(run.id)) return;
      index.set(run.id, run);
      runs.push(run);
      schedule();
    });
    source.addEventListener('end', (event) => {
      const update = JSON.parse((event as MessageEvent<string>).data) as Partial<ViewerRun> & { id: string };
      const run = index.get(update.id);
      if (run === undefined) return;
      Object.assign(run, update);
      schedule();
    });
    source.addEventListener('tokens', (event) => {
      const update = JSON.parse((event as MessageEvent<string>).data) as { id: string; times: number[]; count: number }[];
      for (const entry of update) {
        const run = index.get(entry.id);
        if (run === undefined) continue;
        run.tokenTimes = (run.tokenTimes ?? []).concat(entry.times);
        run.tokenCount = entry.count;
      }
      schedule();
    });
    source.addEventListener('drop', (event) => {
      const dropped = new Set((JSON.parse((event as MessageEvent<string>).data) as { ids: string[] }).ids);
      runs = runs.filter((run) => !dropped.has(run.id));
      dropped.forEach((id) => index.delete(id));
      if (selectedId !== null && dropped.has(selectedId)) selectedId = null;
      // At once, as for a snapshot.
      rebuild();
      showDetails();
    });
  }
}
