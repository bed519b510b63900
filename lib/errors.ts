/**
 * Every error callscope throws on its own account is a {@link CallscopeError}. Subclasses set `name` and a
 * string-union `code`, so callers can branch with `instanceof` or on `code` without parsing messages.
 */

/** Codes carried by {@link CallscopeError} subclasses; stable across releases. */
export type CallscopeErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  | 'TOOL_INPUT_INVALID'
  | 'NO_ACTIVE_RUN'
  | 'ABORTED'
  | 'BACKEND_UNAVAILABLE'
  | 'LOST_CALLBACKS'
  | 'TIMEOUT'
  | 'HANDLER_TIMEOUT'
  | 'RUN_ENDED'
  | 'DEPENDENCY_MISSING'
  | 'PROVIDER_ERROR'
  | 'PROVIDER_CONNECTION_ERROR';

/**
 * Base class of every error callscope throws itself. Errors thrown by your own functions and handlers are
 * passed through unchanged.
 */
export class CallscopeError extends Error {
  /** Machine-readable reason; see {@link CallscopeErrorCode}. */
  readonly code: CallscopeErrorCode;

  /**
   * @param code - machine-readable reason.
   * @param message - what went wrong and what to do about it.
   * @param options - `cause`: the underlying error, if any.
   */
  constructor(code: CallscopeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CallscopeError';
    this.code = code;
  }
}

/**
 * A configuration object (a `RunnableConfig`, `configure()` settings, or constructor options) has a field of
 * the wrong type or value. The message names the field, the value received and what is expected.
 */
export class ConfigError extends CallscopeError {
  /** Path of the offending field, such as `tags` or `callbacks[1]`. */
  readonly field: string;
  /** The offending value as it was received. */
  readonly received: unknown;

  /**
   * @param field - path of the offending field.
   * @param received - the value received.
   * @param message - full message naming the field, the value and what is expected.
   */
  constructor(field: string, received: unknown, message: string, options?: { cause?: unknown; code?: 'INVALID_CONFIG' | 'INVALID_ARGUMENT' }) {
    super(options?.code ?? 'INVALID_CONFIG', message, options);
    this.name = 'ConfigError';
    this.field = field;
    this.received = received;
  }
}

/** One failing path of a tool input, as reported by its schema. */
export interface ToolInputIssue {
  /** Path to the failing value, e.g. `['filters', 0, 'field']`; empty for the input itself. */
  readonly path: readonly (string | number)[];
  /** The schema's description of the failure. */
  readonly message: string;
}

/**
 * A tool's input did not match its schema. The tool body never ran; `handleToolStart` then `handleToolError`
 * were emitted with this error.
 */
export class ToolInputError extends CallscopeError {
  /** Name of the tool whose input was rejected. */
  readonly toolName: string;
  /** Every failing path, as the schema reported it. */
  readonly issues: readonly ToolInputIssue[];
  /** The input as it was received. */
  readonly input: unknown;

  /**
   * @param toolName - the tool whose schema rejected the input.
   * @param input - the input received.
   * @param issues - every failing path.
   * @param cause - the schema library's own error.
   */
  constructor(toolName: string, input: unknown, issues: readonly ToolInputIssue[], cause?: unknown) {
    const details = issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ');
    super(
      'TOOL_INPUT_INVALID',
      `Invalid input for tool \`${toolName}\`: ${details}. Pass an input that matches the tool's schema.`,
      { cause },
    );
    this.name = 'ToolInputError';
    this.toolName = toolName;
    this.issues = issues;
    this.input = input;
  }
}

/**
 * An operation that needs a current run (such as `dispatchCustomEvent` without a config) was called where no
 * run is active.
 */
export class NoActiveRunError extends CallscopeError {
  /** @param message - what was attempted and how to give it a run. */
  constructor(message: string) {
    super('NO_ACTIVE_RUN', message);
    this.name = 'NoActiveRunError';
  }
}

/**
 * In `'explicit'` mode with `configure({ onLostCallbacks: 'throw' })`: a runnable was invoked without the
 * config of the run it was called in, so that run's handlers would not have seen it. Pass the config
 * argument your function received.
 */
export class LostCallbacksError extends CallscopeError {
  /** Name of the runnable that was invoked without config. */
  readonly childName: string;
  /** Name of the run it was invoked in. */
  readonly parentName: string;
  /** Id of the run it was invoked in. */
  readonly parentRunId: string;
  /** Where the call was made (`file:line:column`), when it could be found. */
  readonly callSite: string | undefined;

  /** @param details - the child, the parent run and the call site; `message` is the full explanation. */
  constructor(details: { childName: string; parentName: string; parentRunId: string; callSite: string | undefined; message: string }) {
    super('LOST_CALLBACKS', details.message);
    this.name = 'LostCallbacksError';
    this.childName = details.childName;
    this.parentName = details.parentName;
    this.parentRunId = details.parentRunId;
    this.callSite = details.callSite;
  }
}

/**
 * A run was cancelled through the `signal` of its config. `cause` holds the signal's `reason`. Every open
 * run below the one that was cancelled rejects with one too.
 */
export class AbortError extends CallscopeError {
  /** The run that observed the abort. */
  readonly runName: string;

  /** @param runName - the run that observed the abort. @param reason - the signal's reason. */
  constructor(runName: string, reason: unknown, options?: { code: 'TIMEOUT'; message: string }) {
    super(options?.code ?? 'ABORTED', options?.message ?? `Run \`${runName}\` was aborted${describeReason(reason)}.`, { cause: reason });
    this.name = 'AbortError';
    this.runName = runName;
  }
}

/**
 * A run's `timeout` (from its config or inherited) expired. It is an {@link AbortError} with code `TIMEOUT`,
 * so code that handles cancellation handles deadlines too.
 */
export class RunTimeoutError extends AbortError {
  /** The deadline that expired, in milliseconds from the start of the run that set it. */
  readonly timeoutMs: number;

  /** @param runName - the run that observed the deadline. @param timeoutMs - the deadline. */
  constructor(runName: string, timeoutMs: number) {
    super(runName, undefined, {
      code: 'TIMEOUT',
      message: `Run \`${runName}\` did not finish within its timeout of ${timeoutMs} ms. Raise \`timeout\` in its config if it needs longer.`,
    });
    this.name = 'RunTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A handler call did not settle within its `handlerTimeoutMs` and was abandoned. Reported through
 * `onHandlerError`; a `raiseError` handler fails the run with it.
 */
export class HandlerTimeoutError extends CallscopeError {
  /** The handler that did not answer. */
  readonly handlerName: string;
  /** The method that was called. */
  readonly event: string;
  /** The limit that expired. */
  readonly timeoutMs: number;

  /** @param handlerName - the handler. @param event - the method. @param timeoutMs - the limit. */
  constructor(handlerName: string, event: string, timeoutMs: number) {
    super(
      'HANDLER_TIMEOUT',
      `Handler \`${handlerName}\` did not finish ${event} within ${timeoutMs} ms and was abandoned. Make it faster, raise its \`handlerTimeoutMs\`, or deliver it in the background (\`awaitHandlers = false\`).`,
    );
    this.name = 'HandlerTimeoutError';
    this.handlerName = handlerName;
    this.event = event;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * An event was sent to a run that has already ended (for example `dispatchCustomEvent` from work the run
 * started but did not await). Handlers never see events after a run's end.
 */
export class RunEndedError extends CallscopeError {
  /** @param runName - the run. @param what - what was attempted. */
  constructor(runName: string, what: string) {
    super('RUN_ENDED', `${what} after run \`${runName}\` ended; its handlers no longer take events. Await the work inside the run.`);
    this.name = 'RunEndedError';
  }
}

/**
 * A model provider's API failed a call, after the provider SDK's own retries. Code `PROVIDER_ERROR`: the
 * API answered with an error status, sent an `error` event in the middle of a stream, or the request could
 * not be made (no credentials, say). Code `PROVIDER_CONNECTION_ERROR`: the API could not be reached, did
 * not answer in time, or the connection was cut before the response was complete. `cause` is the SDK's
 * own error.
 */
export class ProviderError extends CallscopeError {
  /** The provider, such as `'anthropic'`. */
  readonly provider: string;
  /** HTTP status of the error response; `undefined` for an error event mid-stream or a connection failure. */
  readonly status: number | undefined;
  /** The provider's id of the request (Anthropic's `request-id` header), to quote when reporting a problem. */
  readonly requestId: string | undefined;
  /** The provider's error type, such as `'overloaded_error'` or `'authentication_error'`, when it sent one. */
  readonly type: string | undefined;

  /** @param details - the provider, the code, the full message and what the provider reported. */
  constructor(details: {
    provider: string;
    code: 'PROVIDER_ERROR' | 'PROVIDER_CONNECTION_ERROR';
    message: string;
    status?: number | undefined;
    requestId?: string | undefined;
    type?: string | undefined;
    cause?: unknown;
  }) {
    super(details.code, details.message, { cause: details.cause });
    this.name = 'ProviderError';
    this.provider = details.provider;
    this.status = details.status;
    this.requestId = details.requestId;
    this.type = details.type;
  }
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error && reason.message) return `: ${reason.message}`;
  if (typeof reason === 'string' && reason) return `: ${reason}`;
  return '';
}

/** Renders a path such as `['a', 0, 'b']` as `` `a[0].b` `` (or `` `(input)` `` for the root). */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '`(input)`';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return `\`${out}\``;
}

/** Renders a received value for an error message: `` `42` (number) ``, `` `"x"` (string) ``. */
export function describeValue(value: unknown): string {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    if (typeof value === 'string') shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    else if (typeof value === 'function') shown = `[function ${value.name || 'anonymous'}]`;
    else if (typeof value === 'bigint') shown = `${value}n`;
    else if (typeof value === 'symbol') shown = value.toString();
    else if (value === undefined) shown = 'undefined';
    else if (typeof value === 'object' && value !== null && !Array.isArray(value) && value.constructor && value.constructor !== Object) {
      shown = `[object ${value.constructor.name}]`;
    } else {
      const json = JSON.stringify(value);
      shown = json === undefined ? Object.prototype.toString.call(value) : json.length > 60 ? `${json.slice(0, 57)}...` : json;
    }
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${kind})`;
}
