import { z } from 'zod';
import {
  BaseCallbackHandler,
  CallbackManager,
  ConfigError,
  configure,
  ConsoleTracer,
  FakeChatModel,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  RunnableSequence,
  tool,
  withCallbacks,
  type CallbackHandlerOptions,
  type RunnableConfig,
} from '../lib';
import { OpenTelemetryTracer } from '../lib/opentelemetry';

/**
 * Every options object refuses keys it does not know, with a ConfigError naming the key and, for a near
 * miss, the key meant: a misspelt option would otherwise drop behaviour without a word. A config LangChain.js
 * passes to a function keeps working.
 */

class Handler extends BaseCallbackHandler {
  constructor(options?: CallbackHandlerOptions) {
    super(options);
  }
}

const echo = RunnableLambda.from((x: unknown) => x, { name: 'echo' });

function errorOf(attempt: () => unknown): ConfigError {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

async function rejectionOf(attempt: () => Promise<unknown>): Promise<ConfigError> {
  try {
    await attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but the promise resolved');
}

describe('unknown option keys', () => {
  it.each<[string, () => unknown, string, string | undefined]>([
    ['RunnableConfig `callback`', () => normalizeViaWithConfig({ callback: [new RunCollector()] } as RunnableConfig), 'callback', 'callbacks'],
    ['BaseCallbackHandler `raiseErrors`', () => new Handler({ raiseErrors: true } as CallbackHandlerOptions), 'raiseErrors', 'raiseError'],
    ['BaseCallbackHandler `ignoreLlm`', () => new Handler({ ignoreLlm: true } as CallbackHandlerOptions), 'ignoreLlm', 'ignoreLLM'],
    ['RunnableLambda.from() `callbacks`', () => RunnableLambda.from((x: number) => x, { callbacks: [] } as never), 'callbacks', undefined],
    ['RunnableLambda.from() `nam`', () => RunnableLambda.from((x: number) => x, { nam: 'x' } as never), 'nam', 'name'],
    ['RunnableGenerator.from() `names`', () => RunnableGenerator.from(async function* () {}, { names: 'x' } as never), 'names', 'name'],
    ['RunnableSequence.from() `tags`', () => RunnableSequence.from([echo], { tags: ['x'] } as never), 'tags', undefined],
    ['ConsoleTracer `color`', () => new ConsoleTracer({ color: false } as never), 'color', 'colors'],
    [
      'tool() `returnDirect`',
      () => tool(() => 'x', { name: 't', description: 'd', schema: z.object({}), returnDirect: true } as never),
      'returnDirect',
      undefined,
    ],
    ['tool() `descripton`', () => tool(() => 'x', { name: 't', descripton: 'd', description: 'd', schema: z.object({}) } as never), 'descripton', 'description'],
    ['CallbackManager `parentRunID`', () => new CallbackManager([], { parentRunID: 'x' } as never), 'parentRunID', 'parentRunId'],
    ['configure() `onHandlerErrors`', () => configure({ onHandlerErrors: () => undefined } as never), 'onHandlerErrors', 'onHandlerError'],
    ['FakeChatModel `response`', () => new FakeChatModel({ responses: ['x'], response: ['y'] } as never), 'response', 'responses'],
    ['OpenTelemetryTracer `tracers`', () => new OpenTelemetryTracer({ tracers: {} } as never), 'tracers', 'tracer'],
  ])('refuses %s with a ConfigError naming it', (_case, attempt, key, meant) => {
    const error = errorOf(attempt);
    expect(error.field).toBe(key);
    expect(error.message).toContain(`Unknown option \`${key}\``);
    if (meant === undefined) expect(error.message).not.toContain('Did you mean');
    else expect(error.message).toContain(`Did you mean \`${meant}\`?`);
  });

  it('refuses a misspelt key in the config of invoke(), naming the key meant', async () => {
    const error = await rejectionOf(() => echo.invoke(1, { callback: [new RunCollector()] } as RunnableConfig));
    expect(error.message).toMatch(/^Unknown option `callback` in RunnableConfig\. Did you mean `callbacks`\? Expected only: callbacks, tags, /);
  });

  it('still accepts the config LangChain.js passes to a function, with its own fields', async () => {
    const collector = new RunCollector();
    const langChainConfig = {
      callbacks: [collector],
      tags: ['lc'],
      metadata: { ls_provider: 'anthropic' },
      recursionLimit: 25,
      runName: 'fromLangChain',
      configurable: { thread_id: '1', __pregel_send: () => undefined },
      store: {},
      writer: () => undefined,
      ls_model_name: 'claude',
      __pregel_scratchpad: {},
    };
    await expect(echo.invoke(1, langChainConfig as RunnableConfig)).resolves.toBe(1);
    expect(collector.runs.map((run) => run.name)).toEqual(['fromLangChain']);
  });

  it('checks the types of handler options too', () => {
    const error = errorOf(() => new Handler({ raiseError: 'yes' } as never));
    expect(error.field).toBe('raiseError');
    expect(error.message).toBe('Expected `raiseError` in handler options to be a boolean, got `"yes"` (string).');
  });
});

describe('a handler class given without `new`', () => {
  it.each<[string, () => unknown]>([
    ['in a RunnableConfig', () => normalizeViaWithConfig({ callbacks: [RunCollector] as never })],
    ['to a CallbackManager', () => new CallbackManager([RunCollector] as never)],
    ['to withCallbacks()', () => withCallbacks(echo, [RunCollector] as never)],
  ])('%s says what was received and asks whether `new` was forgotten', (_case, attempt) => {
    const error = errorOf(attempt);
    expect(error.field).toBe(_case === 'to a CallbackManager' ? 'handlers[0]' : 'callbacks[0]');
    expect(error.message).toContain('got `[class RunCollector]` (function)');
    expect(error.message).toContain('did you forget `new`?');
  });

  it('fails invoke() the same way', async () => {
    const error = await rejectionOf(() => echo.invoke(1, { callbacks: [RunCollector] }));
    expect(error.message).toContain('got `[class RunCollector]` (function): did you forget `new`?');
  });
});

function normalizeViaWithConfig(config: RunnableConfig): unknown {
  return echo.withConfig(config);
}
