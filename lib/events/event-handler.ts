import type { CallbackHandler, ChainEndFields, HandlerMessage, LLMResult, NewTokenFields, Serialized } from '../callbacks/handler';
import { AIChatMessageChunk, ChatGenerationChunk } from '../models/messages';
import type { BoundedChannel } from './channel';
import { markTap, type StreamTap } from './tap';
import type { StreamEvent, StreamEventsFilters } from './types';

type RunType = 'chain' | 'chat_model' | 'llm' | 'tool';

/** What the handler keeps about a run between its start and its end. */
interface RunInfo {
  readonly name: string;
  readonly runType: RunType;
  readonly tags: string[];
  readonly metadata: Record<string, unknown>;
  /** The start's inputs as LangChain's tracers record them (the end of a streamed step replaces them). */
  inputs: unknown;
  readonly parentIds: string[];
  readonly included: boolean;
  /** Stream events sent for this run (a tool sends only its first). */
  chunks: number;
}


/**
 * The callback handler behind `streamEvents`: turns callscope's callback events into LangChain's v2 stream
 * events (plus `parent_ids` and error events) and pushes them into a bounded channel. Blocking: the run
 * waits while the channel is full.
 *
 * Method signatures are LangChain's positional ones (the mission wins over options objects here).
 *
 * @internal
 */
export class EventStreamHandler implements CallbackHandler, StreamTap {
  readonly name = 'callscope_event_stream';
  readonly awaitHandlers = true;
  // A slow consumer is normal here, and a blocked event always settles when the consumer reads or leaves:
  // no time limit, so no timer per wait (and none holding the process open for an abandoned stream).
  readonly handlerTimeoutMs = Number.POSITIVE_INFINITY;
  /** LangChain's marker for handlers that want chat models to stream even when invoked. */
  readonly lc_prefer_streaming = true;
  /** The id of the run `streamEvents` was called on: the first run that starts. */
  private rootRunId: string | undefined = undefined;
  private readonly runs = new Map<string, RunInfo>();

  constructor(
    private readonly channel: BoundedChannel<StreamEvent>,
    private readonly filters: StreamEventsFilters,
  ) {
    markTap(this);
  }

  /** @internal StreamTap: the root and every chain run executed in streaming mode are tapped, as in LangChain. */
  tapsRun(runId: string): boolean {
    if (runId === this.rootRunId) return true;
    return this.runs.get(runId)?.runType === 'chain';
  }

  /** @internal StreamTap */
  chunk(runId: string, chunk: unknown): Promise<void> | undefined {
    const info = this.runs.get(runId);
    if (info === undefined || !info.included) return undefined;
    // LangChain sends only the first chunk of a tool (and retriever) run.
    if (info.runType === 'tool' && info.chunks > 0) return undefined;
    info.chunks++;
    const data = { chunk: info.runType === 'llm' && typeof chunk === 'string' ? { text: chunk } : chunk };
    return this.send(`on_${info.runType}_stream`, info.name, runId, info, data);
  }

  handleChainStart(
    serialized: Serialized,
    inputs: Record<string, unknown>,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runType?: string,
    runName?: string,
  ): Promise<void> | undefined {
    const type = (runType ?? 'chain') as RunType;
    let data: { input?: unknown };
    let recorded: unknown;
    // A streamed step starts before its input is known (`{ input: '' }`): LangChain sends no input then.
    if (inputs.input === '' && Object.keys(inputs).length === 1) {
      data = {};
      recorded = {};
    } else if (inputs.input !== undefined) {
      data = { input: inputs.input };
      recorded = inputs;
    } else {
      data = { input: inputs };
      recorded = inputs;
    }
    const info = this.open(runId, parentRunId, nameOf(runName, serialized), type, tags, metadata, recorded);
    return this.send(`on_${type}_start`, info.name, runId, info, data);
  }

  handleChainEnd(outputs: Record<string, unknown>, runId: string, _parentRunId?: string, _tags?: string[], kwargs?: ChainEndFields): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    return this.send(`on_${info.runType}_end`, info.name, runId, info, {
      output: outputs.output ?? outputs,
      input: chainInput(kwargs?.inputs ?? info.inputs),
    });
  }

  handleChainError(error: unknown, runId: string, _parentRunId?: string, _tags?: string[], kwargs?: ChainEndFields): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    return this.send(`on_${info.runType}_error`, info.name, runId, info, { error, input: chainInput(kwargs?.inputs ?? info.inputs) });
  }

  handleChatModelStart(
    serialized: Serialized,
    messages: HandlerMessage[][],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): Promise<void> | undefined {
    const input = { messages };
    const info = this.open(runId, parentRunId, nameOf(runName, serialized), 'chat_model', tags, metadata, input);
    return this.send('on_chat_model_start', info.name, runId, info, { input });
  }

  handleLLMStart(
    serialized: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): Promise<void> | undefined {
    const input = { prompts };
    const info = this.open(runId, parentRunId, nameOf(runName, serialized), 'llm', tags, metadata, input);
    return this.send('on_llm_start', info.name, runId, info, { input });
  }

  handleLLMNewToken(token: string, _idx: unknown, runId: string, _parentRunId?: string, _tags?: string[], fields?: NewTokenFields): Promise<void> | undefined {
    // LangChain: a model that is the only run streams through the root's tap instead.
    if (this.runs.size === 1) return undefined;
    const info = this.runs.get(runId);
    if (info === undefined) return undefined;
    if (info.runType === 'chat_model') {
      const message = fields?.chunk?.message;
      return this.send('on_chat_model_stream', info.name, runId, info, { chunk: message instanceof AIChatMessageChunk ? message : new AIChatMessageChunk(token) });
    }
    return this.send('on_llm_stream', info.name, runId, info, { chunk: fields?.chunk ?? { text: token } });
  }

  /** @internal StreamTap: `handleLLMNewToken` of a chat model run, called by the model directly. */
  token(runId: string | undefined, token: string, message: AIChatMessageChunk): Promise<void> | undefined {
    if (this.runs.size === 1 || runId === undefined) return undefined;
    const info = this.runs.get(runId);
    if (info === undefined || !info.included) return undefined;
    if (info.runType === 'chat_model') return this.send('on_chat_model_stream', info.name, runId, info, { chunk: message });
    // Not reached by callscope's chat models (their runs are chat model runs); as handleLLMNewToken would.
    return this.send('on_llm_stream', info.name, runId, info, { chunk: new ChatGenerationChunk(token, message) });
  }

  handleLLMEnd(output: LLMResult, runId: string): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    if (info.runType === 'chat_model') {
      let message: unknown;
      for (const generation of output.generations) {
        if (message !== undefined) break;
        message = (generation[0] as { message?: unknown } | undefined)?.message;
      }
      return this.send('on_chat_model_end', info.name, runId, info, { output: message, input: info.inputs });
    }
    const generations = output.generations.map((list) => list.map((g) => ({ text: g.text, generationInfo: g.generationInfo })));
    return this.send('on_llm_end', info.name, runId, info, { output: { generations, llmOutput: output.llmOutput ?? {} }, input: info.inputs });
  }

  handleLLMError(error: unknown, runId: string): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    return this.send(`on_${info.runType}_error`, info.name, runId, info, { error, input: info.inputs });
  }

  handleToolStart(
    serialized: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): Promise<void> | undefined {
    // LangChain's tracers see an object input as the object (handleToolStart gets its JSON text).
    const recorded = toolInput(input);
    const info = this.open(runId, parentRunId, nameOf(runName, serialized), 'tool', tags, metadata, recorded);
    return this.send('on_tool_start', info.name, runId, info, { input: recorded });
  }

  handleToolEnd(output: unknown, runId: string): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    return this.send('on_tool_end', info.name, runId, info, { output, input: info.inputs });
  }

  handleToolError(error: unknown, runId: string): Promise<void> | undefined {
    const info = this.close(runId);
    if (info === undefined) return undefined;
    // LangChain.js's tracers record the error as text: message, blank line, stack.
    return this.send('on_tool_error', info.name, runId, info, { input: info.inputs, error: errorText(error) });
  }

  handleCustomEvent(eventName: string, data: unknown, runId: string): Promise<void> | undefined {
    const info = this.runs.get(runId);
    if (info === undefined) return undefined;
    return this.send('on_custom_event', eventName, runId, info, data);
  }

  private open(
    runId: string,
    parentRunId: string | undefined,
    name: string,
    runType: RunType,
    tags: readonly string[] | undefined,
    metadata: Record<string, unknown> | undefined,
    inputs: unknown,
  ): RunInfo {
    // The handler is bound to the root runnable only: the first run it hears of is the root.
    this.rootRunId ??= runId;
    const parent = parentRunId === undefined ? undefined : this.runs.get(parentRunId);
    const parentIds = parent !== undefined ? [...parent.parentIds, parentRunId as string] : [];
    const ownTags = tags === undefined ? [] : tags.slice();
    const info: RunInfo = {
      name,
      runType,
      tags: ownTags,
      metadata: metadata === undefined ? {} : { ...metadata },
      inputs,
      parentIds,
      included: included(this.filters, name, runType, ownTags),
      chunks: 0,
    };
    this.runs.set(runId, info);
    return info;
  }

  private close(runId: string): RunInfo | undefined {
    const info = this.runs.get(runId);
    if (info !== undefined) this.runs.delete(runId);
    return info;
  }

  private send(event: string, name: string, runId: string, info: RunInfo, data: unknown): Promise<void> | undefined {
    if (!info.included) return undefined;
    return this.channel.push({ event, name, run_id: runId, tags: info.tags, metadata: info.metadata, data, parent_ids: info.parentIds } as StreamEvent);
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.stack === undefined ? error.message : `${error.message}\n\n${error.stack}`;
  return String(error);
}

function nameOf(runName: string | undefined, serialized: Serialized | undefined): string {
  if (runName !== undefined) return runName;
  const named = (serialized as { name?: unknown } | undefined)?.name;
  if (typeof named === 'string') return named;
  const id = serialized?.id;
  return Array.isArray(id) && id.length > 0 ? String(id[id.length - 1]) : 'Unnamed';
}

// LangChain reports `{ input: v }` as `v`, when `v` is truthy.
function chainInput(inputs: unknown): unknown {
  if (inputs !== null && typeof inputs === 'object') {
    const record = inputs as Record<string, unknown>;
    if (record.input && Object.keys(record).length === 1) return record.input;
  }
  return inputs;
}

function toolInput(input: string): unknown {
  if (typeof input !== 'string' || !input.startsWith('{')) return input;
  try {
    const parsed: unknown = JSON.parse(input);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : input;
  } catch {
    return input;
  }
}

function included(filters: StreamEventsFilters, name: string, runType: string, tags: readonly string[]): boolean {
  const { includeNames, includeTypes, includeTags, excludeNames, excludeTypes, excludeTags } = filters;
  let include = includeNames === undefined && includeTypes === undefined && includeTags === undefined;
  if (includeNames !== undefined) include ||= includeNames.includes(name);
  if (includeTypes !== undefined) include ||= includeTypes.includes(runType);
  if (includeTags !== undefined) include ||= tags.some((tag) => includeTags.includes(tag));
  if (excludeNames !== undefined) include &&= !excludeNames.includes(name);
  if (excludeTypes !== undefined) include &&= !excludeTypes.includes(runType);
  if (excludeTags !== undefined) include &&= tags.every((tag) => !excludeTags.includes(tag));
  return include;
}
