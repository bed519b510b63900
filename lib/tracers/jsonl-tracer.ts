import { openAppendStream, streamFinished } from '../platform';
import { ConfigError, describeValue } from '../errors';
import { messageOf, toJsonError, toJsonValue, type JsonError, type JsonValue } from './internal/to-json-value';
import { RunTracer, type RunEndInfo, type RunStartInfo, type RunType } from './run-tracer';

/**
 * One line of a {@link JsonlTracer} file: a finished run, without its children (they have lines of their own).
 * `v` is the version of this format; it changes only when a field changes meaning or goes away (new optional
 * fields keep it). Lines written before the field existed have no `v` and read as version 1.
 */
export interface JsonlRunRecord {
  /** The version of the line format: `1`. */
  readonly v: 1;
  /** The run's id. */
  readonly id: string;
  /** The id of the run it was started in; `null` for a root run (one whose parent is in another process too). */
  readonly parentRunId: string | null;
  /**
   * For a run started with a config from `extractRunContext`: the caller's run id, in another process. Kept
   * out of `parentRunId` so that no reader joins the run to a line of this process with that id.
   */
  readonly remoteParentRunId?: string;
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
  /**
   * When each streamed token arrived, in ms after `startTime` (to 0.01 ms, from a monotonic clock): the
   * token timeline, time to first token and tokens per second of a model run. Present when the run
   * streamed; the first {@link MAX_TOKEN_TIMES} tokens only (`tokenCount` still counts them all).
   */
  readonly tokenTimes?: number[];
  /** Custom events dispatched inside the run, in order. */
  readonly events: { name: string; data: JsonValue }[];
  /** Provider details a model reported with its result, such as token usage; models only, when given. */
  readonly llmOutput?: JsonValue;
}

// A run between its start and end events.
interface OpenRun {
  readonly start: RunStartInfo;
  /** `performance.now()` at the start event, for token offsets. */
  readonly startedAt: number;
  tokenCount: number;
  tokenTimes: number[] | undefined;
  readonly events: { name: string; data: unknown }[];
}

/**
 * The most token times a line records (a 10,000-token stream makes a line about 80 KB longer); later tokens
 * are counted in `tokenCount` only, so a long-running stream cannot grow a line without bound.
 */
export const MAX_TOKEN_TIMES = 10_000;

// The `v` of every line; see JsonlRunRecord.
const JSONL_FORMAT_VERSION = 1;

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
export class JsonlTracer extends RunTracer<OpenRun> {
  private readonly stream: NodeJS.WritableStream;
  private readonly ownsStream: boolean;
  private readonly target: string;
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
      this.stream = openAppendStream(pathOrStream);
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

  /** @internal */
  protected override startRun(start: RunStartInfo): OpenRun {
    return { start, startedAt: performance.now(), tokenCount: 0, tokenTimes: undefined, events: [] };
  }

  /** @internal */
  protected override tokenInRun(run: OpenRun): void {
    if (run.tokenCount++ < MAX_TOKEN_TIMES) (run.tokenTimes ??= []).push(Math.round((performance.now() - run.startedAt) * 100) / 100);
  }

  /** @internal */
  protected override customEventInRun(run: OpenRun, name: string, data: unknown): void {
    run.events.push({ name, data });
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
      await streamFinished(this.stream);
      return;
    }
    if (this.pendingWrites > 0 && !this.failed) await new Promise<void>((resolve) => this.drained.push(resolve));
    // The stream is yours again: many tracers over one stream must not pile up listeners on it.
    if (!this.ownsStream) this.stream.removeListener('error', this.onStreamError);
  }

  /** @internal Writes the run's line. */
  protected override endRun(run: OpenRun, end: RunEndInfo): void {
    if (this.failed) return;
    const { runId, name, parentRunId, type } = run.start;
    if (this.closing !== undefined) {
      this.warnOnce('closed', `callscope JsonlTracer: run \`${name}\` (${runId}) ended after close(); it was not written to ${this.target}.`);
      return;
    }
    let line: string;
    try {
      line = JSON.stringify(toRecord(run, end)) + '\n';
    } catch (reason) {
      // toJsonValue makes this unreachable in practice; should it happen, the line keeps the run's identity.
      this.warnOnce('serialise', `callscope JsonlTracer: could not serialise run \`${name}\` (${runId}): ${messageOf(reason)}.`);
      line = JSON.stringify({ v: JSONL_FORMAT_VERSION, id: runId, parentRunId: parentRunId ?? null, name, type }) + '\n';
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

function toRecord(run: OpenRun, end: RunEndInfo): JsonlRunRecord {
  const { start } = run;
  const llmOutput = end.llmResult?.llmOutput;
  return {
    v: JSONL_FORMAT_VERSION,
    id: start.runId,
    parentRunId: start.parentIsRemote ? null : (start.parentRunId ?? null),
    ...(start.parentIsRemote && start.parentRunId !== undefined ? { remoteParentRunId: start.parentRunId } : {}),
    name: start.name,
    type: start.type,
    inputs: toJsonValue(end.inputs ?? start.inputs, LIMITS),
    outputs: end.failed ? null : toJsonValue(end.outputs, LIMITS),
    error: end.failed ? toJsonError(end.error, LIMITS) : null,
    tags: start.tags.map(String),
    metadata: toJsonValue({ ...start.metadata }, LIMITS) as { [key: string]: JsonValue },
    startTime: start.startTime,
    endTime: end.endTime,
    tokenCount: run.tokenCount,
    ...(run.tokenTimes === undefined ? {} : { tokenTimes: run.tokenTimes }),
    events: run.events.map((event) => ({ name: event.name, data: toJsonValue(event.data, LIMITS) })),
    ...(llmOutput === undefined ? {} : { llmOutput: toJsonValue(llmOutput, LIMITS) }),
  };
}
