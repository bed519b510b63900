import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { BaseCallbackHandler, type ChainValues, type ChatGeneration, type LLMResult, type Serialized } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import type { ChatMessage } from '../models/messages';
import { messageOf, toJsonError, toJsonValue, type JsonError, type JsonValue } from './internal/to-json-value';
import type { RunType } from './run-collector';

/** One line of a {@link JsonlTracer} file: a finished run, without its children (they have lines of their own). */
export interface JsonlRunRecord {
  /** The run's id. */
  readonly id: string;
  /** The id of the run it was started in; `null` for a root run. */
  readonly parentRunId: string | null;
  /** The run's name. */
  readonly name: string;
  /** What kind of runnable ran. */
  readonly type: RunType;
  /** What the start event reported: chain inputs, tool input string, or `{ messages }` / `{ prompts }`. */
  readonly inputs: JsonValue;
  /** What the end event reported (for a model, the AI message); `null` when the run failed. */
  readonly outputs: JsonValue;
  /** What the run failed with; `null` when it succeeded. */
  readonly error: JsonError | null;
  /** Tags of the run. */
  readonly tags: string[];
  /** Metadata of the run. */
  readonly metadata: { [key: string]: JsonValue };
  /** When the run started, in ms since the epoch. */
  readonly startTime: number;
  /** When the run ended, in ms since the epoch. */
  readonly endTime: number;
  /** How many tokens the run streamed (models only; 0 otherwise). */
  readonly tokenCount: number;
  /** Custom events dispatched inside the run, in order. */
  readonly events: { name: string; data: JsonValue }[];
  /** Provider details a model reported with its result, such as token usage; models only, when given. */
  readonly llmOutput?: JsonValue;
}

// A run between its start and end events.
interface OpenRun {
  readonly id: string;
  readonly parentRunId: string | undefined;
  readonly name: string;
  readonly type: RunType;
  readonly inputs: unknown;
  readonly tags: readonly string[] | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly startTime: number;
  tokenCount: number;
  readonly events: { name: string; data: unknown }[];
}

// Deep enough for any real payload, shallow enough never to overflow the stack on a pathological one.
const LIMITS = { maxDepth: 64 } as const;

/**
 * A handler that writes one JSON line per finished run, every run and not only roots, in the order they
 * finish (children before their parent): see {@link JsonlRunRecord} for the fields. Any value is written
 * safely: cycles become `"[Circular]"`, BigInts strings, errors `{ name, message, stack, ... }`,
 * functions and symbols descriptions. It never throws into a run: the first failure to write (or to
 * serialise) is reported once with `console.warn`, and the run goes on as if the tracer were not there.
 *
 * Lines are written as runs end, without waiting for the stream: call {@link JsonlTracer.close} before
 * reading the file or exiting (with `configure({ callbacks: 'background' })`, after `awaitAllCallbacks()`,
 * so the last events have reached the tracer).
 *
 * @example
 * ```ts
 * const tracer = new JsonlTracer('runs.jsonl');
 * await agent.invoke('Lisbon', { callbacks: [tracer] });
 * await tracer.close();
 * ```
 */
export class JsonlTracer extends BaseCallbackHandler {
  private readonly stream: NodeJS.WritableStream;
  private readonly ownsStream: boolean;
  private readonly target: string;
  private readonly open = new Map<string, OpenRun>();
  private pendingWrites = 0;
  private drained: (() => void)[] = [];
  private failed = false;
  private closing: Promise<void> | undefined;
  private readonly warned = new Set<string>();
  private readonly onStreamError = (error: unknown): void => this.writeFailed(error);

  /**
   * @param pathOrStream - a file path, appended to (created if missing), or a writable stream, which the
   *   tracer writes to but never ends.
   * @throws {@link ConfigError} when `pathOrStream` is neither a non-empty string nor a writable stream. A
   *   file that cannot be opened is reported (once, with `console.warn`) instead, like any write failure.
   */
  constructor(pathOrStream: string | NodeJS.WritableStream) {
    super();
    const candidate = pathOrStream as { write?: unknown; on?: unknown } | null;
    const isStream = typeof candidate === 'object' && typeof candidate?.write === 'function' && typeof candidate.on === 'function';
    if (!isStream && !(typeof pathOrStream === 'string' && pathOrStream.length > 0)) {
      throw new ConfigError(
        'pathOrStream',
        pathOrStream,
        `Expected JsonlTracer() to receive a file path or a writable stream, got ${describeValue(pathOrStream)}.`,
        { code: 'INVALID_ARGUMENT' },
      );
    }
    if (typeof pathOrStream === 'string') {
      this.stream = createWriteStream(pathOrStream, { flags: 'a', encoding: 'utf8' });
      this.ownsStream = true;
      this.target = pathOrStream;
    } else {
      this.stream = pathOrStream;
      this.ownsStream = false;
      this.target = 'its stream';
    }
    // Without a listener an 'error' event (a missing directory, a closed pipe) would crash the process.
    this.stream.on('error', this.onStreamError);
  }

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

  override handleLLMNewToken(_token: string, _idx: unknown, runId: string): void {
    const run = this.open.get(runId);
    if (run !== undefined) run.tokenCount++;
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    const generation: ChatGeneration | undefined = output.generations[0]?.[0];
    this.finish(runId, generation?.message ?? output, undefined, output.llmOutput);
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

  /**
   * Waits until the stream has taken every line written so far (a file: written out). A file the tracer
   * opened is then closed; a stream you gave is left open, and the tracer stops listening to it. Lines of
   * runs that end later are dropped (with one warning). Never rejects: write failures were already reported.
   *
   * @returns a promise that resolves when the lines are flushed.
   */
  close(): Promise<void> {
    this.closing ??= this.flushAndClose();
    return this.closing;
  }

  private async flushAndClose(): Promise<void> {
    if (this.ownsStream && !this.failed) {
      this.stream.end();
      await finished(this.stream).catch(() => undefined);
      return;
    }
    if (this.pendingWrites > 0 && !this.failed) await new Promise<void>((resolve) => this.drained.push(resolve));
    // The stream is yours again: many tracers over one stream must not pile up listeners on it.
    if (!this.ownsStream) this.stream.removeListener('error', this.onStreamError);
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
    this.open.set(runId, {
      id: runId,
      parentRunId,
      name: runName ?? serialized.id[serialized.id.length - 1] ?? 'unknown',
      type,
      inputs,
      tags,
      metadata,
      startTime: Date.now(),
      tokenCount: 0,
      events: [],
    });
  }

  private finish(runId: string, outputs: unknown, error: unknown, llmOutput?: unknown): void {
    const run = this.open.get(runId);
    if (run === undefined) return;
    this.open.delete(runId);
    if (this.failed) return;
    if (this.closing !== undefined) {
      this.warnOnce('closed', `callscope JsonlTracer: run \`${run.name}\` (${run.id}) ended after close(); it was not written to ${this.target}.`);
      return;
    }
    let line: string;
    try {
      line = JSON.stringify(toRecord(run, outputs, error, llmOutput)) + '\n';
    } catch (reason) {
      // toJsonValue makes this unreachable in practice; should it happen, the line keeps the run's identity.
      this.warnOnce('serialise', `callscope JsonlTracer: could not serialise run \`${run.name}\` (${run.id}): ${messageOf(reason)}.`);
      line = JSON.stringify({ id: run.id, parentRunId: run.parentRunId ?? null, name: run.name, type: run.type }) + '\n';
    }
    this.write(line);
  }

  private write(line: string): void {
    this.pendingWrites++;
    try {
      this.stream.write(line, (error?: Error | null) => {
        if (error) this.writeFailed(error);
        this.writeDone();
      });
    } catch (error) {
      this.writeFailed(error);
      this.writeDone();
    }
  }

  private writeDone(): void {
    this.pendingWrites = Math.max(0, this.pendingWrites - 1);
    if (this.pendingWrites > 0) return;
    const waiting = this.drained;
    this.drained = [];
    waiting.forEach((resolve) => resolve());
  }

  private writeFailed(error: unknown): void {
    this.failed = true;
    this.warnOnce('write', `callscope JsonlTracer: could not write to ${this.target}: ${messageOf(error)}. Later runs are not written.`);
    // Nothing more will be written: release anyone waiting in close().
    const waiting = this.drained;
    this.drained = [];
    waiting.forEach((resolve) => resolve());
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    console.warn(message);
  }
}

function toRecord(run: OpenRun, outputs: unknown, error: unknown, llmOutput: unknown): JsonlRunRecord {
  const failed = error !== undefined;
  return {
    id: run.id,
    parentRunId: run.parentRunId ?? null,
    name: run.name,
    type: run.type,
    inputs: toJsonValue(run.inputs, LIMITS),
    outputs: failed ? null : toJsonValue(outputs, LIMITS),
    error: failed ? toJsonError(error, LIMITS) : null,
    tags: (run.tags ?? []).map(String),
    metadata: toJsonValue({ ...run.metadata }, LIMITS) as { [key: string]: JsonValue },
    startTime: run.startTime,
    endTime: Date.now(),
    tokenCount: run.tokenCount,
    events: run.events.map((event) => ({ name: event.name, data: toJsonValue(event.data, LIMITS) })),
    ...(llmOutput === undefined ? {} : { llmOutput: toJsonValue(llmOutput, LIMITS) }),
  };
}
