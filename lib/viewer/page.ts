import { gzipSync } from 'node:zlib';
import { inflateText, viewerClient, type LineProblem, type ViewerBoot } from './client';
import { LAYOUT_FUNCTIONS, packedToText, packRuns, type ViewerRun } from './layout';

// The page: markup and styles here, the script from client.ts and layout.ts, the data inline. A static
// page allows no network access at all (the Content-Security-Policy below has no `connect-src`, no
// remote `img-src`): the file opens the same on a laptop without network as anywhere.

const STYLE = `
:root { --chain: #4f7cff; --tool: #e39a1e; --llm: #22a86b; --retriever: #9b59b6; --other: #8a8f98; --error: #e5484d;
  --bg: #ffffff; --fg: #1d2330; --muted: #6b7280; --line: #e5e7eb; --sel: #e8efff; --row: 24px; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
  display: flex; flex-direction: column; }
header { padding: 8px 12px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
header h1 { font-size: 15px; margin: 0; }
header h1 span { font-weight: normal; color: var(--muted); }
#summary { color: var(--muted); }
#filters { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-left: auto; }
#filters input[type=search], #filters input[type=text] { width: 140px; padding: 3px 6px; border: 1px solid var(--line); border-radius: 4px; font: inherit; }
#filters select, #filters button { font: inherit; padding: 2px 6px; }
#problems { margin: 0; padding: 6px 12px; background: #fff6e5; border-bottom: 1px solid #f3d19c; }
#problems ul { margin: 4px 0 0; max-height: 120px; overflow: auto; font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
main { flex: 1; display: flex; min-height: 0; }
#waterfall { flex: 1 1 62%; display: flex; flex-direction: column; min-width: 0; border-right: 1px solid var(--line); }
#axis { display: flex; height: 22px; border-bottom: 1px solid var(--line); color: var(--muted); font-size: 11px; }
#axis .axis-label { width: 45%; padding: 3px 8px; }
#axis-ticks { position: relative; flex: 1; margin-right: 12px; }
#axis-ticks .tick { position: absolute; top: 3px; border-left: 1px solid var(--line); padding-left: 3px; white-space: nowrap; }
#viewport { flex: 1; overflow: auto; position: relative; outline: none; }
#viewport:focus-visible { box-shadow: inset 0 0 0 2px var(--sel); }
#spacer { width: 1px; }
#rows { position: absolute; top: 0; left: 0; right: 0; }
.row { position: absolute; left: 0; right: 0; height: var(--row); display: flex; align-items: center; cursor: default;
  border-bottom: 1px solid #f3f4f6; white-space: nowrap; }
.row:hover { background: #f8fafc; }
.row.selected { background: var(--sel); }
.label { width: 45%; overflow: hidden; text-overflow: ellipsis; display: flex; align-items: center; gap: 6px; }
.toggle { width: 12px; color: var(--muted); cursor: pointer; flex: none; text-align: center; }
.badge { font-size: 10px; text-transform: uppercase; letter-spacing: .03em; padding: 0 5px; border-radius: 3px; color: #fff;
  background: var(--other); flex: none; }
.t-chain .badge, .t-chain .bar { background: var(--chain); }
.t-tool .badge, .t-tool .bar { background: var(--tool); }
.t-llm .badge, .t-llm .bar { background: var(--llm); }
.t-retriever .badge, .t-retriever .bar { background: var(--retriever); }
.row.error .bar { background: var(--error); }
.row.error .name, .message { color: var(--error); }
.message { overflow: hidden; text-overflow: ellipsis; }
.tokens { color: var(--muted); font-size: 11px; }
.track { position: relative; flex: 1; height: 100%; margin-right: 12px; }
.bar { position: absolute; top: 6px; height: 12px; border-radius: 2px; background: var(--other); min-width: 2px; }
.row.running .bar { opacity: .6; background-image: repeating-linear-gradient(45deg, transparent 0 4px, rgba(255,255,255,.4) 4px 8px); }
.duration { position: absolute; top: 4px; padding-left: 4px; font-size: 11px; color: var(--muted); }
.duration.inside { color: #fff; padding: 0 4px 0 0; top: 5px; font-size: 10px; }
.duration.before { padding: 0 4px 0 0; }
#details { flex: 1 1 38%; overflow: auto; padding: 10px 14px; min-width: 280px; }
#details .head { display: flex; align-items: center; gap: 8px; }
#details h2 { font-size: 15px; margin: 0; word-break: break-all; }
#details h3 { font-size: 12px; text-transform: uppercase; color: var(--muted); margin: 14px 0 4px; }
#details dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 10px 0 0; }
#details dt { color: var(--muted); }
#details dd { margin: 0; font-family: ui-monospace, Menlo, monospace; font-size: 12px; word-break: break-all; }
#details pre { margin: 0; padding: 6px 8px; background: #f6f8fa; border-radius: 4px; white-space: pre-wrap; word-break: break-word;
  font: 12px/1.45 ui-monospace, Menlo, monospace; max-height: 360px; overflow: auto; }
.error-box strong { color: var(--error); display: block; margin-bottom: 4px; }
.error-box pre.stack { color: #7f1d1d; background: #fff1f1; }
.token-track { position: relative; height: 16px; background: #f1f5f9; border-radius: 3px; margin-top: 4px; }
.token-mark { position: absolute; top: 2px; width: 2px; height: 12px; background: var(--llm); }
.hint { color: var(--muted); }
`;

const BODY = `
<header>
  <h1>callscope <span id="source"></span></h1>
  <div id="summary"></div>
  <form id="filters" onsubmit="return false">
    <input id="filter-name" type="search" placeholder="name" aria-label="Filter by name">
    <select id="filter-type" aria-label="Filter by type">
      <option value="">all types</option><option value="chain">chain</option><option value="tool">tool</option>
      <option value="llm">llm</option><option value="retriever">retriever</option>
    </select>
    <input id="filter-tag" type="text" list="tags" placeholder="tag" aria-label="Filter by tag">
    <datalist id="tags"></datalist>
    <label><input id="filter-errors" type="checkbox"> errors only</label>
    <input id="filter-search" type="search" placeholder="search inputs and outputs ( / )" aria-label="Search inputs and outputs">
    <button id="expand-all" type="button">expand all</button>
    <button id="collapse-all" type="button">collapse all</button>
    <button id="zoom" type="button" title="fit the time axis to the selected trace (z)">fit trace</button>
  </form>
</header>
<details id="problems" hidden><summary id="problems-title"></summary><ul id="problems-list"></ul></details>
<main>
  <section id="waterfall">
    <div id="axis"><span class="axis-label">run</span><span id="axis-ticks"></span></div>
    <div id="viewport" tabindex="0" role="tree" aria-label="Runs"><div id="spacer"></div><div id="rows"></div></div>
  </section>
  <aside id="details" aria-label="Details of the selected run"></aside>
</main>
`;

/** The page's script: the layout functions and the client, from their compiled source text. */
function script(): string {
  const entries = Object.entries(LAYOUT_FUNCTIONS);
  const functions = entries.map(([, fn]) => fn.toString()).join('\n');
  // A bundler may rename a function (`buildForest2`), consistently within its text: the API object maps
  // the source names to whatever names the inlined declarations carry.
  const api = entries.map(([name, fn]) => `${name}: ${fn.name}`).join(', ');
  return [
    '"use strict";',
    '(function () {',
    // esbuild's keepNames (tsx, which runs the benchmarks and examples, sets it) wraps functions in
    // `__name(fn, "name")`; outside the bundle that helper does not exist, and naming is not needed.
    'var __name = function (target) { return target; };',
    functions,
    `var api = { ${api} };`,
    'var boot = JSON.parse(document.getElementById("callscope-data").textContent);',
    `var client = ${viewerClient.toString()};`,
    'var packed = document.getElementById("callscope-runs");',
    'if (packed === null) client(api, boot);',
    `else (${inflateText.toString()})(packed.textContent).then(function (text) { client(api, Object.assign(boot, { packed: api.packedFromText(text) })); }, function (error) {`,
    '  document.getElementById("summary").textContent = "Could not read the runs in this page: " + error;',
    '});',
    '})();',
  ].join('\n');
}

/** Escapes text for HTML element content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** What a page shows. */
export interface PageInput {
  readonly mode: 'static' | 'live';
  /** Shown in the header and the title: the file name, or "live". */
  readonly title: string;
  /** Runs of a static page. */
  readonly runs: readonly ViewerRun[];
  /** Lines of the file that were skipped. */
  readonly problems: readonly LineProblem[];
  /** Live mode: the path of the server-sent events, relative to the page. */
  readonly events?: string;
}

/**
 * The viewer page as one self-contained HTML document: styles, script and data inline.
 *
 * @param input - the runs of a static page, or the events path of a live one.
 * @returns the HTML.
 */
export function renderPage(input: PageInput): string {
  const boot: ViewerBoot = {
    mode: input.mode,
    title: input.title,
    problems: input.problems,
    ...(input.events === undefined ? {} : { events: input.events }),
  };
  // The runs of a static page: packed, gzipped, base64. A page of 100,000 runs is then a few MB instead of
  // tens, which the browser reads and tokenises several times faster; it inflates them natively.
  const runs =
    input.mode === 'static'
      ? `\n<script id="callscope-runs" type="application/octet-stream">${gzipSync(packedToText(packRuns(input.runs)), { level: 6 }).toString('base64')}</script>`
      : '';
  // JSON inside <script>: `<` escaped so no `</script>` or `<!--` in the data can end the element early.
  const data = JSON.stringify(boot).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const connect = boot.mode === 'live' ? "connect-src 'self'" : "connect-src 'none'";
  const policy = `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; ${connect}; base-uri 'none'; form-action 'none'`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(boot.title)} · callscope</title>
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script id="callscope-data" type="application/json">${data}</script>${runs}
<script>
${script()}
</script>
</body>
</html>
`;
}
