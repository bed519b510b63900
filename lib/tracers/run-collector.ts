import { RunTracer, type RunEndInfo, type RunStartInfo, type RunType } from './run-tracer';

export type { RunType };

/** One run as a {@link RunCollector} saw it, with its children. */
export interface CollectedRun {
  /** The run's id. */
  readonly id: string;
  /** The id of the run it was started in, if any. */
  readonly parentRunId: string | undefined;
  /** The run's name. */
  readonly name: string;
  /** What kind of runnable ran. */
  readonly type: RunType;
  /** What the start event reported: chain inputs, tool input string, or `{ messages }` / `{ prompts }`. */
  readonly inputs: unknown;
  /** What the end event reported; `undefined` until it ends or when it failed. */
  outputs: unknown;
  /** What the run failed with, if it failed. */
  error: unknown;
  /** Tags of the run. */
  readonly tags: readonly string[];
  /** Metadata of the run. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** When the start event arrived (ms since the epoch). */
  readonly startTime: number;
  /** When the end or error event arrived; `undefined` while running. */
  endTime: number | undefined;
  /** Tokens streamed by the run, in order. */
  readonly tokens: string[];
  /** Custom events dispatched inside the run, in order. */
  readonly events: { readonly name: string; readonly data: unknown }[];
  /** Runs started inside this one, in start order. */
  readonly children: CollectedRun[];
}

/**
 * A handler that rebuilds run trees from events. `runs` holds each finished root run (a run whose parent
 * this collector did not see) with its whole subtree. Useful in tests, and to inspect what a handler
 * given at the top actually received.
 *
 * @example
 * ```ts
 * const collector = new RunCollector();
 * await chain.invoke(input, { callbacks: [collector] });
 * console.log(collector.runs[0]?.children.map((run) => run.name));
 * ```
 */
export class RunCollector extends RunTracer<CollectedRun> {
  /** Finished root runs, in the order they finished. */
  readonly runs: CollectedRun[] = [];
  // Every run this collector holds, open or finished, so a late child still finds its parent.
  private readonly known = new Map<string, CollectedRun>();

  /** Every finished run, roots and descendants, depth first in start order. */
  allRuns(): CollectedRun[] {
    const out: CollectedRun[] = [];
    const visit = (run: CollectedRun): void => {
      out.push(run);
      run.children.forEach(visit);
    };
    this.runs.forEach(visit);
    return out;
  }

  /** @internal */
  protected override startRun(start: RunStartInfo): CollectedRun {
    const run: CollectedRun = {
      id: start.runId,
      parentRunId: start.parentRunId,
      name: start.name,
      type: start.type,
      inputs: start.inputs,
      outputs: undefined,
      error: undefined,
      tags: [...start.tags],
      metadata: { ...start.metadata },
      startTime: start.startTime,
      endTime: undefined,
      tokens: [],
      events: [],
      children: [],
    };
    this.known.set(run.id, run);
    const parent = run.parentRunId === undefined ? undefined : this.known.get(run.parentRunId);
    parent?.children.push(run);
    return run;
  }

  /** @internal */
  protected override endRun(run: CollectedRun, end: RunEndInfo): void {
    if (end.inputs !== undefined) (run as { inputs: unknown }).inputs = end.inputs;
    run.outputs = end.outputs;
    run.error = end.error;
    run.endTime = end.endTime;
    // A run whose parent this collector holds is already in that parent's children.
    if (run.parentRunId === undefined || !this.known.has(run.parentRunId)) this.runs.push(run);
  }

  /** @internal */
  protected override tokenInRun(run: CollectedRun, token: string): void {
    run.tokens.push(token);
  }

  /** @internal */
  protected override customEventInRun(run: CollectedRun, name: string, data: unknown): void {
    run.events.push({ name, data });
  }

  /**
   * Lets go of a finished root run and its whole tree, runs still going on in it included: their later
   * events are ignored. For tracers that hand trees on and must not grow (ConsoleTracer).
   */
  protected forgetTree(root: CollectedRun): void {
    const index = this.runs.indexOf(root);
    if (index >= 0) this.runs.splice(index, 1);
    const visit = (run: CollectedRun): void => {
      this.known.delete(run.id);
      this.forgetRun(run.id);
      run.children.forEach(visit);
    };
    visit(root);
  }
}
