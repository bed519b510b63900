import { z } from 'zod';
import {
  ConfigError,
  FakeChatModel,
  RunCollector,
  RunnableLambda,
  StructuredTool,
  ToolInputError,
  configure,
  tool,
  withCallbacks,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { EventRecorder, expectLinked, shapeOf } from '../helpers/trees';

const weatherSchema = z.object({ city: z.string().min(1), days: z.number().int().positive().max(7) });

afterAll(() => configure({ propagation: 'async-local-storage' }));

describe('tool()', () => {
  it('validates the input, passes the parsed value and the config to the function, and resolves with its result', async () => {
    const fn = jest.fn(({ city, days }: z.output<typeof weatherSchema>) => `${city}: sunny for ${days} days`);
    const weather = tool(fn, { name: 'weather', description: 'Forecast', schema: weatherSchema });

    await expect(weather.invoke({ city: 'Lisbon', days: 3 })).resolves.toBe('Lisbon: sunny for 3 days');
    expect(fn).toHaveBeenCalledWith({ city: 'Lisbon', days: 3 }, expect.objectContaining({ tags: [] }));
  });

  it('applies schema transforms before the function runs', async () => {
    const trimmed = tool(({ q }) => q, { name: 'trim', description: 'd', schema: z.object({ q: z.string().trim() }) });
    await expect(trimmed.invoke({ q: '  padded  ' })).resolves.toBe('padded');
  });

  it('rejects an invalid input with ToolInputError naming the tool and every failing path; the body never runs', async () => {
    const body = jest.fn();
    const weather = tool(body, { name: 'weather', description: 'Forecast', schema: weatherSchema });
    const recorder = new EventRecorder();

    const failure = weather.invoke({ city: '', days: 10 }, { callbacks: [recorder] });

    await expect(failure).rejects.toBeInstanceOf(ToolInputError);
    const error = (await failure.catch((e: unknown) => e)) as ToolInputError;
    expect(error).toMatchObject({ name: 'ToolInputError', code: 'TOOL_INPUT_INVALID', toolName: 'weather' });
    expect(error.issues.map((issue) => issue.path)).toEqual([['city'], ['days']]);
    expect(error.message).toContain('`weather`');
    expect(error.message).toContain('`city`');
    expect(error.message).toContain('`days`');
    expect(body).not.toHaveBeenCalled();
    expect(recorder.methods()).toEqual(['handleToolStart', 'handleToolError']);
    expect(recorder.events[1]?.args[0]).toBe(error);
  });

  it('keeps name, description and schema', () => {
    const weather = tool(() => 'x', { name: 'weather', description: 'Forecast', schema: weatherSchema });
    expect(weather).toBeInstanceOf(StructuredTool);
    expect(weather).toMatchObject({ name: 'weather', description: 'Forecast', schema: weatherSchema });
  });

  it.each([
    ['a non-function', [5, { name: 'x', description: 'd', schema: z.string() }], 'fn'],
    ['an empty name', [() => 1, { name: '', description: 'd', schema: z.string() }], 'name'],
    ['a missing description', [() => 1, { name: 'x', schema: z.string() }], 'description'],
    ['a schema that is not zod', [() => 1, { name: 'x', description: 'd', schema: { type: 'object' } }], 'schema'],
  ])('throws ConfigError for %s', (_, args, field) => {
    const make = () => (tool as (...a: unknown[]) => unknown)(...args);
    expect(make).toThrow(ConfigError);
    try {
      make();
    } catch (error) {
      expect((error as ConfigError).field).toBe(field);
    }
  });

  it('supports subclasses of StructuredTool, which propagate like tool() tools', async () => {
    const child = RunnableLambda.from((x: string) => x.length, { name: 'measure' });
    class Measure extends StructuredTool<typeof stringSchema, number> {
      constructor() {
        super({ name: 'measure-tool', description: 'Measures', schema: stringSchema });
      }
      override _call(input: string): Promise<number> {
        return child.invoke(input);
      }
    }
    const stringSchema = z.string();
    const collector = new RunCollector();

    await expect(new Measure().invoke('abc', { callbacks: [collector] })).resolves.toBe(3);
    expect(shapeOf(collector.runs[0] as CollectedRun)).toEqual({
      type: 'tool',
      name: 'measure-tool',
      children: [{ type: 'chain', name: 'measure', children: [] }],
    });
  });
});

describe.each(['async-local-storage', 'cls-hooked'] as PropagationMode[])("withCallbacks() ('%s')", (mode) => {
  beforeEach(() => configure({ propagation: mode }));

  it('binds handlers to a tool: every run it starts and every nested run reports to them', async () => {
    const bound = new RunCollector();
    const model = new FakeChatModel({ responses: ['It is sunny'], streaming: true });
    const summarize = RunnableLambda.from(async (text: string) => (await model.invoke(text)).content, { name: 'summarize' });
    const weather = tool(({ city }) => summarize.invoke(`weather in ${city}`), { name: 'weather', description: 'Forecast', schema: z.object({ city: z.string() }) });

    const traced = withCallbacks(weather, [bound]);
    await traced.invoke({ city: 'Porto' });
    await weather.invoke({ city: 'Faro' }); // the original is unchanged

    expect(bound.runs).toHaveLength(1);
    const root = bound.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'tool',
      name: 'weather',
      children: [{ type: 'chain', name: 'summarize', children: [{ type: 'llm', name: 'FakeChatModel', children: [] }] }],
    });
    expect(root.children[0]?.children[0]?.tokens.join('')).toBe('It is sunny');
    expectLinked(root);
  });

  it('keeps the kind: a tool stays a tool with its name, description and schema', () => {
    const schema = z.object({ city: z.string() });
    const weather = tool(() => 'x', { name: 'weather', description: 'Forecast', schema });
    const traced = withCallbacks(weather, [new RunCollector()]);
    expect(traced).toBeInstanceOf(StructuredTool);
    expect(traced).toMatchObject({ name: 'weather', description: 'Forecast', schema });
  });

  it('adds to handlers the call passes or inherits, without calling any twice', async () => {
    const bound = new RunCollector();
    const passed = new RunCollector();
    const traced = withCallbacks(RunnableLambda.from((x: number) => x, { name: 'id' }), [bound]);
    const outer = RunnableLambda.from((x: number) => traced.invoke(x), { name: 'outer' });

    await outer.invoke(1, { callbacks: [passed, bound] });

    expect(passed.allRuns().map((run) => run.name)).toEqual(['outer', 'id']);
    expect(bound.allRuns().map((run) => run.name)).toEqual(['outer', 'id']);
  });

  it('takes a single handler as a list of one', async () => {
    const bound = new RunCollector();
    await withCallbacks(RunnableLambda.from((x: number) => x, { name: 'one' }), bound).invoke(1);
    expect(bound.runs.map((run) => run.name)).toEqual(['one']);
  });

  it('throws ConfigError for something that is not a runnable or handlers that are not a list', () => {
    expect(() => withCallbacks({} as unknown as RunnableLambda<number, number>, [])).toThrow(ConfigError);
    expect(() => withCallbacks(RunnableLambda.from((x: number) => x), 'h' as unknown as [])).toThrow(ConfigError);
  });
});

describe('tool config', () => {
  it('hands the tool function a config it can pass on in explicit mode', async () => {
    configure({ propagation: 'explicit' });
    const collector = new RunCollector();
    let received: RunnableConfig | undefined;
    const echo = tool((input, config) => {
      received = config;
      return input;
    }, { name: 'echo', description: 'd', schema: z.string() });

    await echo.invoke('x', { callbacks: [collector] });

    expect((received?.callbacks as { parentRunId?: string } | undefined)?.parentRunId).toBe(collector.runs[0]?.id);
  });
});
