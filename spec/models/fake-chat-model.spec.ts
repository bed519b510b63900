import { AbortError, ConfigError, FakeChatModel, RunCollector, RunnableLambda, type ChatModelInput, type FakeChatModelOptions } from '../../lib';
import { EventRecorder } from '../helpers/trees';

const joke = "Why don't scientists trust atoms?\n\nBecause they make up everything!";

describe('FakeChatModel', () => {
  describe('.invoke()', () => {
    it('answers with the next response as an AI message, cycling through the responses', async () => {
      const model = new FakeChatModel({ responses: ['one', 'two'] });
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await model.invoke('hi'));
      expect(answers).toEqual([
        { role: 'ai', content: 'one' },
        { role: 'ai', content: 'two' },
        { role: 'ai', content: 'one' },
      ]);
    });

    it('accepts a list of messages', async () => {
      const model = new FakeChatModel({ responses: ['ok'] });
      await expect(model.invoke([{ role: 'system', content: 's' }, { role: 'human', content: 'h' }])).resolves.toEqual({ role: 'ai', content: 'ok' });
    });

    it('emits one handleLLMNewToken per token with streaming: true, the tokens adding up to the response exactly', async () => {
      const recorder = new EventRecorder();
      const model = new FakeChatModel({ responses: [joke], streaming: true });

      await model.invoke('Tell me a joke', { callbacks: [recorder] });

      const tokens = recorder.events.filter((e) => e.method === 'handleLLMNewToken').map((e) => e.args[0] as string);
      expect(tokens.length).toBeGreaterThan(5);
      expect(tokens.join('')).toBe(joke);
      expect(tokens.every((token) => /^\s*\S+$|^\s+$/.test(token))).toBe(true);
      expect(recorder.methods()[0]).toBe('handleChatModelStart');
      expect(recorder.methods().at(-1)).toBe('handleLLMEnd');
    });

    it('emits no token events without streaming', async () => {
      const recorder = new EventRecorder();
      await new FakeChatModel({ responses: ['a b c'] }).invoke('x', { callbacks: [recorder] });
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMEnd']);
    });

    it('reports to constructor callbacks on every run, and to inherited handlers too', async () => {
      const own = new RunCollector();
      const inherited = new RunCollector();
      const model = new FakeChatModel({ responses: ['r'], callbacks: [own] });
      const chain = RunnableLambda.from((q: string) => model.invoke(q), { name: 'chain' });

      await model.invoke('a');
      await chain.invoke('b', { callbacks: [inherited] });

      expect(own.runs.map((run) => run.name)).toEqual(['FakeChatModel', 'FakeChatModel']);
      expect(inherited.allRuns().map((run) => run.name)).toEqual(['chain', 'FakeChatModel']);
    });

    it('rejects malformed input with ConfigError, before any event', async () => {
      const recorder = new EventRecorder();
      const model = new FakeChatModel({ responses: ['r'] });
      await expect(model.invoke(42 as unknown as ChatModelInput, { callbacks: [recorder] })).rejects.toThrow(ConfigError);
      await expect(model.invoke([{ role: 'robot', content: 'x' }] as unknown as ChatModelInput)).rejects.toThrow('`input[0]`');
      expect(recorder.events).toEqual([]);
    });

    it('stops between tokens when the signal aborts, reporting one error', async () => {
      const recorder = new EventRecorder();
      const controller = new AbortController();
      const model = new FakeChatModel({ responses: ['a b c d e f'], streaming: true, tokenDelayMs: 5 });
      const onToken = { handleLLMNewToken: () => controller.abort() };

      await expect(model.invoke('x', { callbacks: [recorder, onToken], signal: controller.signal })).rejects.toBeInstanceOf(AbortError);

      expect(recorder.methods().filter((m) => m === 'handleLLMNewToken')).toHaveLength(1);
      expect(recorder.methods().filter((m) => m === 'handleLLMError')).toHaveLength(1);
      expect(recorder.methods()).not.toContain('handleLLMEnd');
    });
  });

  describe('.stream()', () => {
    it('yields one AI message chunk per token and emits a token event for each, even without streaming: true', async () => {
      const recorder = new EventRecorder();
      const model = new FakeChatModel({ responses: ['Hello big world'] });

      const chunks = [];
      for await (const chunk of model.stream('hi', { callbacks: [recorder] })) chunks.push(chunk);

      expect(chunks).toEqual([
        { role: 'ai', content: 'Hello' },
        { role: 'ai', content: ' big' },
        { role: 'ai', content: ' world' },
      ]);
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      const end = recorder.events.at(-1)?.args[0] as { generations: { text: string }[][] };
      expect(end.generations[0]?.[0]?.text).toBe('Hello big world');
    });

    it('emits each token event before the chunk reaches the consumer', async () => {
      const log: string[] = [];
      const model = new FakeChatModel({ responses: ['a b'] });
      const handler = { handleLLMNewToken: (token: string) => log.push(`event ${token}`) };
      for await (const chunk of model.stream('x', { callbacks: [handler] })) log.push(`chunk ${chunk.content}`);
      expect(log).toEqual(['event a', 'chunk a', 'event  b', 'chunk  b']);
    });
  });

  describe('constructor', () => {
    it.each([
      ['no responses', { responses: [] }, 'responses'],
      ['a non-string response', { responses: ['a', 1] }, 'responses'],
      ['a negative delay', { responses: ['a'], tokenDelayMs: -1 }, 'tokenDelayMs'],
      ['a non-boolean streaming', { responses: ['a'], streaming: 'yes' }, 'streaming'],
      ['bad callbacks', { responses: ['a'], callbacks: 1 }, 'callbacks'],
      ['an unknown option', { responses: ['a'], temperature: 0 }, 'temperature'],
    ])('throws ConfigError for %s, naming the option', (_, options, field) => {
      expect(() => new FakeChatModel(options as unknown as FakeChatModelOptions)).toThrow(ConfigError);
      expect(() => new FakeChatModel(options as unknown as FakeChatModelOptions)).toThrow(`\`${field}`);
    });
  });

  describe('FakeChatModel.tokenize()', () => {
    it.each(['', ' ', 'one', '  lead and trail  ', 'tabs\tand\nnew lines\n\n', joke])('splits %j into tokens that concatenate back to it', (text) => {
      expect(FakeChatModel.tokenize(text).join('')).toBe(text);
    });
  });
});
