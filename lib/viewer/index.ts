/**
 * `callscope/viewer`: see your runs. `LiveViewer` serves the trace viewer page on a local port and shows
 * runs in it as they happen; the static page of the same viewer is written by `npx callscope view
 * runs.jsonl` from a `JsonlTracer` file. Needs `node:http`.
 *
 * Every public name of this entry point is listed here.
 */
export { LiveViewer } from './live-viewer';
export type { LiveViewerOptions } from './live-viewer';
