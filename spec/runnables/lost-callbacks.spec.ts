import {
  configure,
  LostCallbacksError,
  RunCollector,
  RunnableLambda,
  type PropagationMode,
} from '../../lib';

afterEach(() => {
  configure({ propagation: 'async-local-storage', onLostCallbacks: 'ignore' });
  jest.restoreAllMocks();
});

const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });

function warnings(spy: jest.SpyInstance): { message: string; code?: string }[] {
  return spy.mock.calls
    .filter((call) => (call[1] as { code?: string } | undefined)?.code === 'CALLSCOPE_LOST_CALLBACKS')
    .map((call) => ({ message: String(call[0]), code: (call[1] as { code?: string }).code }));
}

describe("configure({ onLostCallbacks }) in 'explicit' mode", () => {
  it("'warn' emits CALLSCOPE_LOST_CALLBACKS once per call site, naming the child, the parent and the fix", async () => {
    configure({ propagation: 'explicit', onLostCallbacks: 'warn' });
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const mid = RunnableLambda.from(async (x: number) => {
      await leaf.invoke(x); // one call site...
      await leaf.invoke(x); // ...and another
      return x;
    }, { name: 'mid' });
    const collector = new RunCollector();

    await mid.invoke(1, { callbacks: [collector] });
    await mid.invoke(2, { callbacks: [collector] });

    const seen = warnings(emitWarning);
    expect(seen).toHaveLength(2);
    const [first] = seen;
    expect(first?.message).toContain('`leaf`');
    expect(first?.message).toContain('`mid`');
    expect(first?.message).toContain(collector.runs[0]?.id);
    expect(first?.message).toContain('pass the config argument your function received');
    expect(first?.message).toMatch(/lost-callbacks\.spec\.ts:\d+:\d+/);
    // The documented behaviour itself is unchanged: the children are still lost.
    expect(collector.allRuns().map((run) => run.name)).toEqual(['mid', 'mid']);
  });

  it("'throw' rejects the child's call with LostCallbacksError carrying the same facts", async () => {
    configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
    let caught: unknown;
    const collector = new RunCollector();
    await RunnableLambda.from(async (x: number) => {
      caught = await leaf.invoke(x).catch((error: unknown) => error);
    }, { name: 'parent' }).invoke(1, { callbacks: [collector] });

    expect(caught).toBeInstanceOf(LostCallbacksError);
    expect(caught).toMatchObject({
      name: 'LostCallbacksError',
      code: 'LOST_CALLBACKS',
      childName: 'leaf',
      parentName: 'parent',
      parentRunId: collector.runs[0]?.id,
      callSite: expect.stringMatching(/lost-callbacks\.spec\.ts:\d+:\d+$/),
    });
  });

  it('says nothing when the config is passed on, or when the parent run has no handlers', async () => {
    configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
    const passes = RunnableLambda.from((x: number, config) => leaf.invoke(x, config), { name: 'passes' });
    const unheard = RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'unheard' });

    await expect(passes.invoke(1, { callbacks: [new RunCollector()] })).resolves.toBe(1);
    await expect(unheard.invoke(1)).resolves.toBe(1);
  });

  it('says nothing about runnables invoked from handlers, which start their own root runs', async () => {
    configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
    const fromHandler: unknown[] = [];
    const handler = {
      async handleChainStart(_s: unknown, _i: unknown, _id: string, _p?: string, _t?: string[], _m?: unknown, _rt?: string, name?: string) {
        if (name === 'top') fromHandler.push(await leaf.invoke(5).catch((error: unknown) => error));
      },
    };
    await RunnableLambda.from((x: number) => x, { name: 'top' }).invoke(1, { callbacks: [handler] });
    expect(fromHandler).toEqual([5]);
  });

  it("'ignore', the default, stays silent: the documented failure reproduces exactly", async () => {
    configure({ propagation: 'explicit' });
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    await RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'p' }).invoke(1, { callbacks: [new RunCollector()] });
    expect(warnings(emitWarning)).toEqual([]);
  });

  it.each(['async-local-storage', 'cls-hooked'] as PropagationMode[])("is ignored in '%s' mode, which never loses the parent", async (mode) => {
    configure({ propagation: mode, onLostCallbacks: 'throw' });
    const collector = new RunCollector();
    await RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'p' }).invoke(1, { callbacks: [collector] });
    expect(collector.allRuns().map((run) => run.name)).toEqual(['p', 'leaf']);
  });
});
