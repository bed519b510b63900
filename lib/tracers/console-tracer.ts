import type picocolors from 'picocolors';
import { environment, loadColors, standardOutput } from '../platform';
import { ConfigError, describeValue } from '../errors';
import { assertKnownKeys } from '../internal/validation';
import { isError, messageOf, toJsonValue } from './internal/to-json-value';
import { RunCollector, type CollectedRun } from './run-collector';
import type { RunEndInfo } from './run-tracer';

/** Options of {@link ConsoleTracer}. */
export interface ConsoleTracerOptions {
  /** Where the run trees are written. @default process.stdout */
  stream?: NodeJS.WritableStream;
  /**
   * Colour the output with ANSI escapes.
   * @default `true` when `stream` is a TTY and the `NO_COLOR` environment variable is not set
   */
  colors?: boolean;
  /** Inputs, outputs and error messages longer than this many characters are cut, with `…`. @default 60 */
  maxLength?: number;
  /**
   * Print each run's duration. Turn it off where the output must not change from one run to the next
   * (examples checked against their printed output, snapshots).
   * @default true
   */
  timings?: boolean;
}

type Colors = ReturnType<typeof picocolors.createColors>;

const DEFAULT_MAX_LENGTH = 60;

/**
 * A handler that prints each finished root run as an indented tree: per run its type, name and duration,
 * a short view of its inputs and outputs, the number of tokens a model streamed, and, in red, what a
 * failed run threw. A tree is printed in one write when its root run ends; a run still going on then (a
 * child nobody awaited) is marked `(still running)`. Memory is released as each tree is printed, so the
 * tracer can stay attached for the life of a process.
 *
 * @example
 * ```ts
 * await agent.invoke('Lisbon', { callbacks: [new ConsoleTracer()] });
 * // chain agent 3 ms  in: "Lisbon"  out: "Sunny"
 * // └─ tool forecast 2 ms  in: {"city":"Lisbon"}  out: "Sunny"
 * //    └─ llm FakeChatModel 1 ms  1 token  in: "Weather in Lisbon?"  out: "Sunny"
 * ```
 */
export class ConsoleTracer extends RunCollector {
  private readonly stream: NodeJS.WritableStream;
  private readonly colors: Colors;
  private readonly maxLength: number;
  private readonly timings: boolean;

  /**
   * @param options - see {@link ConsoleTracerOptions}.
   * @throws {@link ConfigError} naming the first invalid or unknown option (and, for a near miss, the option meant).
   */
  constructor(options: ConsoleTracerOptions = {}) {
    super();
    validate(options);
    this.stream = options.stream ?? standardOutput();
    const isTTY = (this.stream as { isTTY?: unknown }).isTTY === true;
    this.colors = loadColors().createColors(options.colors ?? (isTTY && !environment('NO_COLOR')));
    this.maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    this.timings = options.timings ?? true;
  }

  /** @internal Prints a root run's tree once it ends, then lets the tree go. */
  protected override endRun(run: CollectedRun, end: RunEndInfo): void {
    super.endRun(run, end);
    if (!this.runs.includes(run)) return;
    this.forgetTree(run);
    this.stream.write(this.format(run) + '\n');
  }

  /**
   * Renders a finished run and its descendants as the lines {@link ConsoleTracer} prints, without a
   * trailing newline. Colours follow the tracer's `colors` option.
   *
   * @param run - a run as a {@link RunCollector} collected it.
   * @returns the tree, one line per run.
   */
  format(run: CollectedRun): string {
    const lines: string[] = [];
    const visit = (node: CollectedRun, prefix: string, connector: string, childPrefix: string): void => {
      lines.push(prefix + connector + this.formatRun(node));
      node.children.forEach((child, index) => {
        const last = index === node.children.length - 1;
        visit(child, prefix + childPrefix, last ? '└─ ' : '├─ ', last ? '   ' : '│  ');
      });
    };
    visit(run, '', '', '');
    return lines.join('\n');
  }

  private formatRun(run: CollectedRun): string {
    const c = this.colors;
    const typeColor = run.type === 'llm' ? c.magenta : run.type === 'tool' ? c.yellow : run.type === 'retriever' ? c.green : c.cyan;
    const duration = run.endTime === undefined || !this.timings ? '' : ` ${c.dim(`${run.endTime - run.startTime} ms`)}`;
    const tokens = run.tokens.length === 0 ? '' : `  ${c.dim(`${run.tokens.length} token${run.tokens.length === 1 ? '' : 's'}`)}`;
    // Formatting never throws, whatever the values (a revoked Proxy, a Proxy whose ownKeys throws): one
    // unreadable value must not cost the whole tree.
    const input = `  ${c.dim('in:')} ${this.safely(() => this.preview(inputView(run)))}`;
    const outcome =
      run.endTime === undefined
        ? `  ${c.dim('(still running)')}`
        : run.error === undefined
          ? `  ${c.dim('out:')} ${this.safely(() => this.preview(outputView(run)))}`
          : `  ${c.red(`✗ ${this.safely(() => this.errorText(run.error))}`)}`;
    return `${typeColor(run.type)} ${c.bold(run.name)}${duration}${tokens}${input}${outcome}`;
  }

  private safely(render: () => string): string {
    try {
      return render();
    } catch (error) {
      return this.cut(`[unreadable: ${messageOf(error)}]`);
    }
  }

  private errorText(error: unknown): string {
    if (isError(error)) return this.cut(`${error.name}: ${error.message}`);
    return this.preview(error);
  }

  private preview(value: unknown): string {
    // Tool inputs arrive as strings that are already JSON for objects: show them as they are.
    if (value instanceof RawText) return this.cut(value.text);
    const json = toJsonValue(value, { maxDepth: 3, maxItems: 10, maxStringLength: this.maxLength });
    return this.cut(JSON.stringify(json));
  }

  private cut(text: string): string {
    const line = text.replace(/\s+/g, ' ');
    return line.length <= this.maxLength ? line : line.slice(0, this.maxLength - 1) + '…';
  }
}

function validate(options: unknown): asserts options is ConsoleTracerOptions {
  const fail = (field: string, received: unknown, expected: string): never => {
    throw new ConfigError(field, received, `Expected \`${field}\` to be ${expected}, got ${describeValue(received)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  };
  if (options === null || typeof options !== 'object') fail('options', options, 'an object');
  assertKnownKeys(options as object, ['stream', 'colors', 'maxLength', 'timings'], 'ConsoleTracer options');
  const { stream, colors, maxLength, timings } = options as Record<string, unknown>;
  const writable = typeof stream === 'object' && stream !== null && typeof (stream as { write?: unknown }).write === 'function';
  if (stream !== undefined && !writable) fail('stream', stream, 'a writable stream');
  if (colors !== undefined && typeof colors !== 'boolean') fail('colors', colors, 'a boolean');
  if (timings !== undefined && typeof timings !== 'boolean') fail('timings', timings, 'a boolean');
  if (maxLength !== undefined && !(typeof maxLength === 'number' && Number.isInteger(maxLength) && maxLength > 0)) {
    fail('maxLength', maxLength, 'a positive integer');
  }
}

class RawText {
  constructor(readonly text: string) {}
}

// What a reader wants to see of a run's inputs: the value a chain was called with (callscope wraps
// primitives as { input }), the last message or prompt a model was given, a tool's input as handed over.
function inputView(run: CollectedRun): unknown {
  const inputs = run.inputs;
  if (run.type === 'tool' || run.type === 'retriever') return typeof inputs === 'string' ? new RawText(inputs) : inputs;
  if (run.type === 'llm' && isRecord(inputs)) {
    const messages = inputs.messages;
    if (Array.isArray(messages)) {
      const last: unknown = (messages[0] as unknown[] | undefined)?.at(-1);
      return isRecord(last) && typeof last.content === 'string' ? last.content : messages;
    }
    if (Array.isArray(inputs.prompts)) return inputs.prompts.at(-1);
  }
  return unwrap(inputs, 'input');
}

function outputView(run: CollectedRun): unknown {
  const outputs = run.outputs;
  if (run.type === 'llm' && isRecord(outputs) && typeof outputs.content === 'string') return outputs.content;
  // A retriever's documents, shown by their text.
  if (run.type === 'retriever' && Array.isArray(outputs)) return outputs.map((document: unknown) => (isRecord(document) ? document.pageContent : document));
  return run.type === 'chain' ? unwrap(outputs, 'output') : outputs;
}

function unwrap(values: unknown, key: string): unknown {
  if (!isRecord(values)) return values;
  const keys = Object.keys(values);
  return keys.length === 1 && keys[0] === key ? values[key] : values;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
