import { BaseChatModel as LCBaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage as LCAIMessage, HumanMessage as LCHumanMessage, SystemMessage as LCSystemMessage, type BaseMessage as LCBaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import type { CallbackHandler as LangfuseHandler } from 'langfuse-langchain';
import { BaseChatModel, HumanMessage, SystemMessage, type AIMessageChunk, type ChatMessage } from '../../lib';
import { loadLangfuseLangChain, LoopbackLangfuse, type IngestedBody, type IngestedEvent } from './loopback-langfuse';
import { normalise, runCallscope, runLangChain, SCENARIOS, TOKENS, type Scenario } from './pipelines';

const { CallbackHandler } = loadLangfuseLangChain();

/**
 * An observation as the spec compares it, whichever side recorded it. Its model name, model parameters and
 * metadata are left out here: they name each side's fake model (callscope's reports `fake-chat-model`,
 * LangChain's `FakeStreamingChatModel` none). The last two tests check them, the second with one model
 * written alike for both sides.
 */
interface ComparedObservation {
  name: string | undefined;
  /** `span` or `generation`, from the kind of its create event. */
  type: string;
  /** Which trace it was sent in: the index of that trace among the traces created. */
  trace: number;
  level: string | undefined;
  error: string | undefined;
  input: unknown;
  output: unknown;
  /** Whether a first streamed token was reported (`completionStartTime`). */
  streamed: boolean;
  usage: unknown;
  children: ComparedObservation[];
}

/** A create event with every later update of the same observation merged in. */
interface Observation {
  type: string;
  arrival: number;
  body: IngestedBody;
}

function observations(events: IngestedEvent[]): Observation[] {
  const byId = new Map<string, Observation>();
  events.forEach((event, arrival) => {
    const [kind, action] = event.type.split('-');
    if (kind === 'trace') return;
    const known = byId.get(event.body.id);
    if (action === 'create') byId.set(event.body.id, { type: kind ?? event.type, arrival, body: { ...known?.body, ...event.body } });
    // An update that arrives before its create (see `problems`) is merged all the same, as Langfuse does.
    else byId.set(event.body.id, { type: known?.type ?? event.type, arrival: known?.arrival ?? Infinity, body: { ...known?.body, ...event.body } });
  });
  return [...byId.values()];
}

/** The traces created, in order, each with its later updates merged in. */
function traces(events: IngestedEvent[]): IngestedBody[] {
  const byId = new Map<string, IngestedBody>();
  for (const event of events) if (event.type === 'trace-create') byId.set(event.body.id, { ...byId.get(event.body.id), ...event.body });
  return [...byId.values()];
}

// Start order. Times have millisecond precision, so observations started in one millisecond keep the order
// in which their creates arrived.
function byStart(a: Observation, b: Observation): number {
  return Date.parse(a.body.startTime ?? '') - Date.parse(b.body.startTime ?? '') || a.arrival - b.arrival;
}

// How each side reports one abort: callscope rejects with an AbortError naming the run and the reason;
// LangChain's runnables reject with the signal's reason itself ("Error: stopped by the user") and its chat
// model with its own ModelAbortError. Other errors are compared word for word.
function comparedError(message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  return /abort|stopped by the user/i.test(message) ? '<aborted>' : message;
}

// Langfuse 3's SDK scans every body for media by copying its objects field by field before it posts them,
// which drops `toJSON`: a LangChain message in a chain's input or output arrives as its class's own fields
// (`lc_kwargs`, `lc_namespace`, `type`, `content`...), a callscope message as its own `{ role, content }`
// (callscope keeps those as a message's only own fields, its documented shape, with LangChain's surface on
// the prototype). Both say the same message: each becomes `'<Kind>: <text>'`, as `normalise` does for the
// serialized forms.
const KINDS: Record<string, string> = { human: 'HumanMessage', user: 'HumanMessage', ai: 'AIMessage', assistant: 'AIMessage', system: 'SystemMessage', tool: 'ToolMessage' };

function copiedMessages(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copiedMessages);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (typeof record.content === 'string') {
    if (typeof record.lc_kwargs === 'object' && typeof record.type === 'string' && KINDS[record.type] !== undefined) return `${KINDS[record.type]}: ${record.content}`;
    if (typeof record.role === 'string' && KINDS[record.role] !== undefined && record.lc_kwargs === undefined) return `${KINDS[record.role]}: ${record.content}`;
  }
  return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, copiedMessages(inner)]));
}

function compared(observation: Observation, all: Observation[], traceIds: string[]): ComparedObservation {
  const { body } = observation;
  // A generation's input and output are what the handler itself made of the messages ({ role, content }),
  // compared as they are; a span's are the run's own values.
  const value = (inner: unknown): unknown => (observation.type === 'generation' ? inner : normalise(copiedMessages(inner)));
  return {
    name: body.name,
    type: observation.type,
    trace: traceIds.indexOf(body.traceId ?? ''),
    level: body.level,
    error: comparedError(body.statusMessage),
    input: value(body.input),
    output: value(body.output),
    streamed: body.completionStartTime !== undefined,
    usage: body.usageDetails,
    children: all
      .filter((child) => child.body.parentObservationId === body.id)
      .sort(byStart)
      .map((child) => compared(child, all, traceIds)),
  };
}

/** What the ingestion API received, as trees of observations plus the traces and the start order. */
function received(events: IngestedEvent[]): { traces: unknown[]; observations: ComparedObservation[]; order: (string | undefined)[] } {
  const all = observations(events);
  const traceList = traces(events);
  const traceIds = traceList.map((trace) => trace.id);
  const ids = new Set(all.map((observation) => observation.body.id));
  return {
    traces: traceList.map((trace) => ({ name: trace.name, input: normalise(copiedMessages(trace.input)), output: comparedError(typeof trace.output === 'string' ? trace.output : undefined) ?? normalise(copiedMessages(trace.output)) })),
    observations: all
      .filter((observation) => observation.body.parentObservationId === undefined || !ids.has(observation.body.parentObservationId))
      .sort(byStart)
      .map((root) => compared(root, all, traceIds)),
    order: [...all].sort(byStart).map((observation) => observation.body.name),
  };
}

/**
 * What is wrong with the events as Langfuse would ingest them; `[]` when nothing. Every update must belong
 * to an observation created with the same kind (a generation update with no generation create is what
 * Langfuse 3 showed for callscope's chat models before), created no later than the update ends; every
 * create has a name, a trace, and a parent that was created before it (or none, for the observation that
 * opened its trace).
 *
 * "Before" is read from the observations' own times, not from the order of arrival: the SDK queues each
 * event only after an asynchronous media scan whose length follows the body's nesting, so a small update can
 * overtake the create sent just before it (LangChain's own failing run shows it: the tool's error arrives
 * ahead of the tool's create). Langfuse merges events by id, so that order does not matter to it.
 */
function problems(events: IngestedEvent[]): string[] {
  const found: string[] = [];
  const traceIds = new Set(events.filter((event) => event.type === 'trace-create').map((event) => event.body.id));
  const creates = new Map<string, IngestedEvent>();
  for (const event of events) {
    if (!event.type.endsWith('-create') || event.type === 'trace-create') continue;
    if (creates.has(event.body.id)) found.push(`${event.type} ${event.body.id} is sent twice`);
    creates.set(event.body.id, event);
  }
  for (const event of events) {
    if (!event.type.endsWith('-update')) continue;
    const created = creates.get(event.body.id);
    const expected = event.type.replace(/-update$/, '-create');
    if (created?.type !== expected) {
      found.push(`${event.type} ${event.body.id} has no ${expected} (${created === undefined ? 'none' : created.type})`);
      continue;
    }
    if (event.body.endTime !== undefined && Date.parse(created.body.startTime ?? '') > Date.parse(event.body.endTime)) {
      found.push(`${event.type} of ${String(created.body.name)} ends before it starts`);
    }
  }
  for (const event of creates.values()) {
    const { body } = event;
    if (typeof body.name !== 'string' || body.name === '') found.push(`${event.type} ${body.id} has no name`);
    if (body.traceId === undefined || !traceIds.has(body.traceId)) found.push(`${event.type} of ${String(body.name)} names no trace created`);
    if (body.parentObservationId === undefined) {
      if (!traceIds.has(body.id)) found.push(`${event.type} of ${String(body.name)} has no parent and opens no trace`);
      continue;
    }
    const parent = creates.get(body.parentObservationId);
    if (parent === undefined) found.push(`${event.type} of ${String(body.name)} has a parent never created`);
    else if (Date.parse(parent.body.startTime ?? '') > Date.parse(body.startTime ?? '')) found.push(`${event.type} of ${String(body.name)} starts before its parent`);
  }
  return found;
}

function kinds(events: IngestedEvent[]): string[] {
  return [...new Set(events.map((event) => event.type))].sort();
}

/** A callscope chat model that answers in two chunks, the last carrying the provider's usage and model name. */
class ReportingModel extends BaseChatModel {
  constructor() {
    super({ name: 'ReportingModel' });
  }
  override invocationParams(): Record<string, unknown> {
    return { model: 'reporting-model', temperature: 0.2, max_tokens: 64 };
  }
  override async *_streamChunks(): AsyncGenerator<AIMessageChunk> {
    yield { role: 'ai', content: 'Sunny, ' };
    yield { role: 'ai', content: '21 degrees', responseMetadata: { model_name: 'reporting-model-2026', usage: { input_tokens: 12, output_tokens: 5 } } };
  }
}

/** The same model written for LangChain: the answer carries `usage_metadata` and `response_metadata`. */
class LCReportingModel extends LCBaseChatModel {
  constructor() {
    super({});
  }
  _llmType(): string {
    return 'reporting';
  }
  override invocationParams(): Record<string, unknown> {
    return { model: 'reporting-model', temperature: 0.2, max_tokens: 64 };
  }
  async _generate(): Promise<ChatResult> {
    const message = new LCAIMessage({
      content: 'Sunny, 21 degrees',
      usage_metadata: { input_tokens: 12, output_tokens: 5, total_tokens: 17 },
      response_metadata: { model_name: 'reporting-model-2026' },
    });
    return { generations: [{ text: 'Sunny, 21 degrees', message }] };
  }
}

const CONVERSATION: ChatMessage[] = [new SystemMessage('Answer in five words.'), new HumanMessage('Weather in Paris?')];
const LC_CONVERSATION: LCBaseMessage[] = [new LCSystemMessage('Answer in five words.'), new LCHumanMessage('Weather in Paris?')];


describe("Langfuse's CallbackHandler (langfuse-langchain 3, posting to a loopback ingestion API)", () => {
  const api = new LoopbackLangfuse();
  let baseUrl: string;

  beforeAll(async () => {
    baseUrl = await api.start();
  });

  afterAll(async () => {
    await api.stop();
  });

  /** Runs `run` with a fresh handler, then shuts it down, which posts every queued event and waits for it. */
  async function record(run: (handler: LangfuseHandler) => Promise<unknown>): Promise<IngestedEvent[]> {
    api.events.length = 0;
    // One batch at the end (flushAt above the event count, no flush timer), so nothing is left running.
    const handler = new CallbackHandler({ baseUrl, publicKey: 'pk-lf-loopback', secretKey: 'sk-lf-loopback', flushAt: 1000, flushInterval: 0 });
    await run(handler);
    await handler.shutdownAsync();
    expect(api.unexpected).toEqual([]);
    return [...api.events];
  }

  describe.each(SCENARIOS)('%s', (scenario: Scenario) => {
    it('receives the same traces and observations from callscope as from the same pipeline built with @langchain/core', async () => {
      const fromCallscope = await record((handler) => runCallscope(scenario, handler));
      const fromLangChain = await record((handler) => runLangChain(scenario, handler));

      expect(received(fromCallscope)).toEqual(received(fromLangChain));
    });

    it('receives no update without its create, and every create with a name and a parent (both sides)', async () => {
      const fromCallscope = await record((handler) => runCallscope(scenario, handler));
      const fromLangChain = await record((handler) => runLangChain(scenario, handler));

      // The same kinds of events on both sides: a generation's create and update whenever LangChain sends them.
      expect(kinds(fromCallscope)).toEqual(kinds(fromLangChain));
      expect(problems(fromCallscope)).toEqual([]);
      expect(problems(fromLangChain)).toEqual([]);
    });
  });

  it("receives the chat model's generation with its messages, model name and streamed answer", async () => {
    const events = await record((handler) => runCallscope('success', handler));
    const generation = observations(events).find((observation) => observation.type === 'generation');
    const answer = observations(events).find((observation) => observation.body.name === 'answer');

    expect(generation?.body).toMatchObject({
      name: 'FakeChatModel',
      parentObservationId: answer?.body.id,
      model: 'fake-chat-model',
      metadata: { ls_provider: 'fake', ls_model_name: 'fake-chat-model', ls_model_type: 'chat' },
      input: [{ role: 'user', content: 'What about Paris?' }],
      output: { role: 'assistant', content: TOKENS.join('') },
    });
    expect(generation?.body.completionStartTime).toEqual(expect.any(String));
  });

  it("receives a model's usage, parameters and reported model name as for the same model written for LangChain", async () => {
    const generation = (events: IngestedEvent[]): IngestedBody | undefined => observations(events).find((observation) => observation.type === 'generation')?.body;
    const fromCallscope = generation(await record((handler) => new ReportingModel().invoke(CONVERSATION, { callbacks: [handler] })));
    const fromLangChain = generation(
      await record(async (handler) => {
        await new LCReportingModel().invoke(LC_CONVERSATION, { callbacks: [handler], runName: 'ReportingModel' });
        await awaitAllCallbacks();
      }),
    );

    const compared = (body: IngestedBody | undefined): unknown => ({
      name: body?.name,
      input: body?.input,
      output: body?.output,
      model: body?.model,
      modelParameters: (body as { modelParameters?: unknown } | undefined)?.modelParameters,
      usage: body?.usage,
      usageDetails: body?.usageDetails,
    });
    expect(compared(fromCallscope)).toEqual(compared(fromLangChain));
    expect(compared(fromCallscope)).toEqual({
      name: 'ReportingModel',
      input: [
        { role: 'system', content: 'Answer in five words.' },
        { role: 'user', content: 'Weather in Paris?' },
      ],
      output: { role: 'assistant', content: 'Sunny, 21 degrees' },
      // The create names the requested model, the update the one the provider reported.
      model: 'reporting-model-2026',
      modelParameters: { temperature: 0.2, max_tokens: 64 },
      usage: { input: 12, output: 5, total: 17 },
      usageDetails: { input: 12, output: 5, total: 17 },
    });
  });
});
