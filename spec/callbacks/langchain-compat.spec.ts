import { BaseCallbackHandler as LangChainBaseCallbackHandler } from '@langchain/core/callbacks/base';
import { RunCollectorCallbackHandler } from '@langchain/core/tracers/run_collector';
import type { Run } from '@langchain/core/tracers/base';
import { z } from 'zod';
import { FakeChatModel, RunCollector, RunnableLambda, RunnableSequence, tool, type CollectedRun } from '../../lib';

interface Node {
  id: string;
  parent: string | undefined;
  name: string;
  type: string;
  children: Node[];
}

const fromLangChain = (run: Run): Node => ({
  id: run.id,
  parent: run.parent_run_id,
  name: run.name,
  type: run.run_type,
  children: run.child_runs.map(fromLangChain),
});

const fromCallscope = (run: CollectedRun): Node => ({
  id: run.id,
  parent: run.parentRunId,
  name: run.name,
  type: run.type,
  children: run.children.map(fromCallscope),
});

function buildPipeline() {
  const model = new FakeChatModel({ responses: ['Paris is sunny'], streaming: true });
  const answer = RunnableLambda.from(async (question: string) => (await model.invoke(question)).content, { name: 'answer' });
  const research = tool(async ({ topic }) => answer.invoke(`What about ${topic}?`), {
    name: 'research',
    description: 'Researches a topic',
    schema: z.object({ topic: z.string() }),
  });
  const plan = RunnableLambda.from((city: string) => ({ topic: city }), { name: 'plan' });
  return RunnableSequence.from<string, string>([plan, research, (text: string) => text.toUpperCase()], { name: 'agent' });
}

describe("@langchain/core's RunCollectorCallbackHandler on a callscope pipeline", () => {
  it('rebuilds exactly the run tree callscope emitted: ids, parents, names, types and order', async () => {
    const langchain = new RunCollectorCallbackHandler();
    const ours = new RunCollector();

    await expect(buildPipeline().invoke('Paris', { callbacks: [langchain, ours] })).resolves.toBe('PARIS IS SUNNY');

    expect(langchain.tracedRuns).toHaveLength(1);
    const lcRoot = langchain.tracedRuns[0] as Run;
    expect(fromLangChain(lcRoot)).toEqual(fromCallscope(ours.runs[0] as CollectedRun));
    expect(fromLangChain(lcRoot)).toMatchObject({
      name: 'agent',
      type: 'chain',
      parent: undefined,
      children: [
        { name: 'plan', type: 'chain', children: [] },
        { name: 'research', type: 'tool', children: [{ name: 'answer', type: 'chain', children: [{ name: 'FakeChatModel', type: 'llm', children: [] }] }] },
        { name: 'RunnableLambda', type: 'chain', children: [] },
      ],
    });
  });

  it('records inputs, outputs, tags, end times and streamed tokens as LangChain tracers expect', async () => {
    const langchain = new RunCollectorCallbackHandler();

    await buildPipeline().invoke('Paris', { callbacks: [langchain], tags: ['prod'] });

    const root = langchain.tracedRuns[0] as Run;
    expect(root.inputs).toEqual({ input: 'Paris' });
    expect(root.outputs).toEqual({ output: 'PARIS IS SUNNY' });
    expect(root.tags).toEqual(['prod']);
    expect(root.end_time).toEqual(expect.any(Number));
    const tool = root.child_runs[1] as Run;
    // As with LangChain's own tools: tracers get the input object through _createRunForToolStart.
    expect(tool.inputs).toEqual({ topic: 'Paris' });
    const llm = (tool.child_runs[0] as Run).child_runs[0] as Run;
    expect(llm.inputs).toEqual({ messages: [[{ role: 'human', content: 'What about Paris?' }]] });
    expect(llm.events?.filter((event) => event.name === 'new_token').map((event) => (event.kwargs as { token: string }).token)).toEqual(['Paris', ' is', ' sunny']);
    expect(llm.outputs?.generations?.[0]?.[0]?.text).toBe('Paris is sunny');
  });

  it('records an error at every level it crosses', async () => {
    const langchain = new RunCollectorCallbackHandler();
    const failing = RunnableLambda.from(() => {
      throw new Error('lookup failed');
    }, { name: 'lookup' });
    const outer = RunnableLambda.from(() => failing.invoke(undefined), { name: 'outer' });

    await expect(outer.invoke(undefined, { callbacks: [langchain] })).rejects.toThrow('lookup failed');

    const root = langchain.tracedRuns[0] as Run;
    expect(root.error).toContain('lookup failed');
    expect((root.child_runs[0] as Run).error).toContain('lookup failed');
  });
});

describe("a handler written against @langchain/core's BaseCallbackHandler", () => {
  it('works unchanged: same method names, same positional arguments', async () => {
    const log: string[] = [];
    class LangChainStyle extends LangChainBaseCallbackHandler {
      name = 'langchain-style';
      override handleChainStart(_chain: unknown, inputs: Record<string, unknown>, _runId: string, parentRunId?: string) {
        log.push(`chain start ${JSON.stringify(inputs)} parent=${parentRunId === undefined ? 'none' : 'set'}`);
      }
      override handleLLMNewToken(token: string) {
        log.push(`token ${token}`);
      }
      override async handleLLMEnd() {
        log.push('llm end');
      }
      override handleChainEnd(outputs: Record<string, unknown>) {
        log.push(`chain end ${JSON.stringify(outputs)}`);
      }
    }
    const model = new FakeChatModel({ responses: ['hi there'], streaming: true });
    const chain = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'chain' });

    await chain.invoke('hello', { callbacks: [new LangChainStyle()] });

    expect(log).toEqual(['chain start {"input":"hello"} parent=none', 'token hi', 'token  there', 'llm end', 'chain end {"output":"hi there"}']);
  });
});
