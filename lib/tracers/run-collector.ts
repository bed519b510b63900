import { BaseCallbackHandler, type ChainValues, type ChatGeneration, type LLMResult, type Serialized } from '../callbacks/handler';
import type { ChatMessage } from '../models/messages';

/** The kind of a collected run. */
export type RunType = 'chain' | 'llm' | 'tool';

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
export class RunCollector extends BaseCallbackHandler {
  /** Finished root runs, in the order they finished. */
  readonly runs: CollectedRun[] = [];
  private readonly open = new Map<string, CollectedRun>();
  // Every run this collector holds, open or finished, so a late child still finds its parent.
  private readonly known = new Map<string, CollectedRun>();

  override handleChainStart(
    serialized: Serialized,
    inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): void {
    this.start('chain', serialized, inputs, runId, parentRunId, tags, metadata, runName);
  }

  override handleChainEnd(outputs: ChainValues, runId: string): void {
    this.finish(runId, outputs, undefined);
  }

  override handleChainError(error: unknown, runId: string): void {
    this.finish(runId, undefined, error);
  }

  override handleChatModelStart(
    serialized: Serialized,
    messages: ChatMessage[][],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.start('llm', serialized, { messages }, runId, parentRunId, tags, metadata, runName);
  }

  override handleLLMStart(
    serialized: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.start('llm', serialized, { prompts }, runId, parentRunId, tags, metadata, runName);
  }

  override handleLLMNewToken(token: string, _idx: unknown, runId: string): void {
    this.open.get(runId)?.tokens.push(token);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    const generation: ChatGeneration | undefined = output.generations[0]?.[0];
    this.finish(runId, generation?.message ?? output, undefined);
  }

  override handleLLMError(error: unknown, runId: string): void {
    this.finish(runId, undefined, error);
  }

  override handleToolStart(
    serialized: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.start('tool', serialized, input, runId, parentRunId, tags, metadata, runName);
  }

  override handleToolEnd(output: unknown, runId: string): void {
    this.finish(runId, output, undefined);
  }

  override handleToolError(error: unknown, runId: string): void {
    this.finish(runId, undefined, error);
  }

  override handleCustomEvent(eventName: string, data: unknown, runId: string): void {
    this.open.get(runId)?.events.push({ name: eventName, data });
  }

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

  private start(
    type: RunType,
    serialized: Serialized,
    inputs: unknown,
    runId: string,
    parentRunId: string | undefined,
    tags: readonly string[] | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
    runName: string | undefined,
  ): void {
    const run: CollectedRun = {
      id: runId,
      parentRunId,
      name: runName ?? serialized.id[serialized.id.length - 1] ?? 'unknown',
      type,
      inputs,
      outputs: undefined,
      error: undefined,
      tags: [...(tags ?? [])],
      metadata: { ...metadata },
      startTime: Date.now(),
      endTime: undefined,
      tokens: [],
      events: [],
      children: [],
    };
    this.open.set(runId, run);
    this.known.set(runId, run);
    const parent = parentRunId === undefined ? undefined : this.known.get(parentRunId);
    parent?.children.push(run);
  }

  private finish(runId: string, outputs: unknown, error: unknown): void {
    const run = this.open.get(runId);
    if (run === undefined) return;
    this.open.delete(runId);
    run.outputs = outputs;
    run.error = error;
    run.endTime = Date.now();
    // A run whose parent this collector holds is already in that parent's children.
    if (run.parentRunId === undefined || !this.known.has(run.parentRunId)) this.runs.push(run);
  }
}
