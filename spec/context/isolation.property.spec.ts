import fc from 'fast-check';
import { z } from 'zod';
import {
  BaseCallbackHandler,
  configure,
  FakeChatModel,
  RunnableGenerator,
  RunnableLambda,
  tool,
  type PropagationMode,
} from '../../lib';

/**
 * Property: however runs nest and interleave, each handler receives exactly its own tree. Random trees of
 * lambdas, generators, tools and chat model calls (depth up to 6, fan-out through Promise.all, pauses
 * through timers, setImmediate and microtasks, some failing leaves) run 1,000 at a time, each with its own
 * recording handler, none passing config. FC_RUNS scales the number of batches for soak runs.
 */

type Kind = 'lambda' | 'generator' | 'tool' | 'model';
type Pause = 'none' | 'microtask' | 'timer' | 'immediate';
interface TreeNode {
  kind: Kind;
  pause: Pause;
  parallel: boolean;
  fail: boolean;
  children: TreeNode[];
}

const pauseArb = fc.constantFrom<Pause>('none', 'microtask', 'timer', 'immediate');
const leafArb: fc.Arbitrary<TreeNode> = fc.oneof(
  fc.record({ kind: fc.constant<Kind>('model'), pause: fc.constant<Pause>('none'), parallel: fc.constant(false), fail: fc.constant(false), children: fc.constant<TreeNode[]>([]) }),
  // One lambda leaf in ten fails; the failure travels up through every ancestor.
  fc.record({ kind: fc.constant<Kind>('lambda'), pause: pauseArb, parallel: fc.constant(false), fail: fc.nat(9).map((n) => n === 0), children: fc.constant<TreeNode[]>([]) }),
);
const { tree } = fc.letrec<{ tree: TreeNode }>((tie) => ({
  // Depth index 0..5: up to six levels (about 9 runs a tree on average, up to ~40), inner nodes favoured so
  // that deep trees are common rather than rare.
  tree: fc.oneof(
    { maxDepth: 5, depthSize: 'medium', depthIdentifier: 'tree' },
    { arbitrary: leafArb, weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constantFrom<Kind>('lambda', 'generator', 'tool'),
        pause: pauseArb,
        parallel: fc.boolean(),
        fail: fc.constant(false),
        children: fc.array(tie('tree'), { minLength: 1, maxLength: 3, depthIdentifier: 'tree' }),
      }),
      weight: 3,
    },
  ),
}));

interface Expected {
  name: string;
  type: 'chain' | 'tool' | 'llm';
  fails: boolean;
  children: Expected[];
}

async function pause(kind: Pause): Promise<void> {
  if (kind === 'microtask') await Promise.resolve();
  else if (kind === 'timer') await new Promise((resolve) => setTimeout(resolve, 1));
  else if (kind === 'immediate') await new Promise((resolve) => setImmediate(resolve));
}

/** Runs every child, in order or all at once; rethrows the first failure after all have settled. */
async function runAll(calls: (() => Promise<unknown>)[], parallel: boolean): Promise<void> {
  const outcomes = parallel
    ? await Promise.allSettled(calls.map((call) => call()))
    : await calls.reduce<Promise<PromiseSettledResult<unknown>[]>>(
        async (done, call) => [...(await done), await call().then((value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason }))],
        Promise.resolve([]),
      );
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw (failure).reason;
}

/** Builds runnables for `node`; returns how to invoke it (without config) and what its handler must see. */
function build(node: TreeNode, name: string): { call: () => Promise<unknown>; expected: Expected } {
  const children = node.children.map((child, i) => build(child, `${name}.${i}`));
  const calls = children.map((child) => child.call);
  const fails = node.fail || children.some((child) => child.expected.fails);
  const expected = (type: Expected['type']): Expected => ({ name, type, fails, children: children.map((child) => child.expected) });
  switch (node.kind) {
    case 'model': {
      const model = new FakeChatModel({ responses: [`answer from ${name}`], streaming: true, name });
      return { call: () => model.invoke('question'), expected: expected('llm') };
    }
    case 'lambda': {
      const lambda = RunnableLambda.from(async () => {
        await pause(node.pause);
        await runAll(calls, node.parallel);
        if (node.fail) throw new Error(`${name} failed`);
        return name;
      }, { name });
      return { call: () => lambda.invoke(1), expected: expected('chain') };
    }
    case 'tool': {
      const t = tool(async () => {
        await pause(node.pause);
        await runAll(calls, node.parallel);
        return name;
      }, { name, description: 'generated', schema: z.object({ n: z.number() }) });
      return { call: () => t.invoke({ n: 1 }), expected: expected('tool') };
    }
    case 'generator': {
      const generator = RunnableGenerator.from(async function* (inputs: AsyncIterable<number>) {
        for await (const input of inputs) {
          await pause(node.pause);
          yield input;
          await runAll(calls, node.parallel);
          yield input;
        }
      }, { name });
      return { call: () => generator.invoke(1), expected: expected('chain') };
    }
  }
}

interface Seen {
  name: string;
  type: 'chain' | 'tool' | 'llm';
  parentRunId: string | undefined;
  start: number;
  end?: number;
  ended: number;
  failed: boolean;
  children: string[];
}

/** Records starts and ends by run id and checks every invariant on the way. */
class TreeRecorder extends BaseCallbackHandler {
  readonly runs = new Map<string, Seen>();
  readonly problems: string[] = [];
  readonly roots: string[] = [];
  private clock = 0;

  private start(type: Seen['type'], runId: string, parentRunId: string | undefined, name: string | undefined): void {
    if (this.runs.has(runId)) this.problems.push(`run ${runId} started twice`);
    this.runs.set(runId, { name: name ?? '?', type, parentRunId, start: this.clock++, ended: 0, failed: false, children: [] });
    if (parentRunId === undefined) this.roots.push(runId);
    else {
      const parent = this.runs.get(parentRunId);
      if (parent === undefined) this.problems.push(`run ${name} has a parent this handler never saw`);
      else if (parent.end !== undefined) this.problems.push(`run ${name} started after its parent ended`);
      else parent.children.push(runId);
    }
  }

  private finish(runId: string, failed: boolean): void {
    const run = this.runs.get(runId);
    if (run === undefined) {
      this.problems.push(`end of a run that never started: ${runId}`);
      return;
    }
    run.ended++;
    run.end = this.clock++;
    run.failed = failed;
    for (const child of run.children) {
      if (this.runs.get(child)?.end === undefined) this.problems.push(`${run.name} ended before its child ${this.runs.get(child)?.name}`);
    }
  }

  override handleChainStart(_s: unknown, _i: unknown, runId: string, parentRunId?: string, _t?: string[], _m?: unknown, _rt?: string, name?: string) {
    this.start('chain', runId, parentRunId, name);
  }
  override handleToolStart(_s: unknown, _i: string, runId: string, parentRunId?: string, _t?: string[], _m?: unknown, name?: string) {
    this.start('tool', runId, parentRunId, name);
  }
  override handleChatModelStart(_s: unknown, _m: unknown, runId: string, parentRunId?: string, _e?: unknown, _t?: string[], _md?: unknown, name?: string) {
    this.start('llm', runId, parentRunId, name);
  }
  override handleChainEnd(_o: unknown, runId: string) {
    this.finish(runId, false);
  }
  override handleToolEnd(_o: unknown, runId: string) {
    this.finish(runId, false);
  }
  override handleLLMEnd(_o: unknown, runId: string) {
    this.finish(runId, false);
  }
  override handleChainError(_e: unknown, runId: string) {
    this.finish(runId, true);
  }
  override handleToolError(_e: unknown, runId: string) {
    this.finish(runId, true);
  }
  override handleLLMError(_e: unknown, runId: string) {
    this.finish(runId, true);
  }

  /** The tree this handler saw from `runId`, in the shape of {@link Expected}. */
  treeOf(runId: string): Expected {
    const run = this.runs.get(runId) as Seen;
    if (run.ended !== 1) this.problems.push(`${run.name} ended ${run.ended} times`);
    return { name: run.name, type: run.type, fails: run.failed, children: run.children.map((child) => this.treeOf(child)) };
  }
}

const batch = 1_000;
const numRuns = Number(process.env.FC_RUNS ?? 2);

describe.each(['async-local-storage', 'cls-hooked'] as PropagationMode[])("isolation under load in '%s' mode", (mode) => {
  beforeAll(() => configure({ propagation: mode }));
  afterAll(() => configure({ propagation: 'async-local-storage' }));

  it(`gives each of ${batch} concurrent random trees' handlers exactly their own tree`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tree, { minLength: batch, maxLength: batch }), async (trees) => {
        const built = trees.map((node, i) => build(node, `t${i}`));
        const recorders = built.map(() => new TreeRecorder());
        await Promise.all(
          built.map(({ call }, i) => {
            const recorder = recorders[i] as TreeRecorder;
            // The root is invoked with the handler; nothing below passes config.
            return RunnableLambda.from(() => call(), { name: `root${i}` })
              .invoke(undefined, { callbacks: [recorder] })
              .catch(() => undefined);
          }),
        );
        built.forEach(({ expected }, i) => {
          const recorder = recorders[i] as TreeRecorder;
          expect(recorder.roots).toHaveLength(1);
          const seen = recorder.treeOf(recorder.roots[0] as string);
          expect(recorder.problems).toEqual([]);
          expect(seen).toEqual({ name: `root${i}`, type: 'chain', fails: expected.fails, children: [expected] });
        });
      }),
      // A counterexample of 1,000 trees takes long to shrink and reads no better shrunk: report it as found.
      { numRuns, endOnFailure: true },
    );
  });
});
