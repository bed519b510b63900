import { LangChainTracer } from '@langchain/core/tracers/tracer_langchain';
import { Client } from 'langsmith';
import { LoopbackLangSmith, type PostedRun } from './loopback-langsmith';
import { normalise, runCallscope, runLangChain, SCENARIOS, TOKENS, type ComparedRun, type Scenario } from './pipelines';

function compared(run: PostedRun, all: PostedRun[]): ComparedRun {
  const children = all.filter((child) => child.parent_run_id === run.id).sort((a, b) => a.dotted_order.localeCompare(b.dotted_order));
  return {
    name: run.name,
    type: run.run_type,
    inputs: normalise(run.inputs),
    outputs: run.error === undefined ? normalise(run.outputs) : undefined,
    failed: run.error !== undefined && run.error !== null,
    tokens: (run.events ?? []).filter((event) => event.name === 'new_token').length,
    children: children.map((child) => compared(child, all)),
  };
}

/** The trees LangSmith received, roots in start order. */
function trees(runs: PostedRun[]): ComparedRun[] {
  const ids = new Set(runs.map((run) => run.id));
  return runs
    .filter((run) => run.parent_run_id === undefined || run.parent_run_id === null || !ids.has(run.parent_run_id))
    .sort((a, b) => a.dotted_order.localeCompare(b.dotted_order))
    .map((root) => compared(root, runs));
}

/** Names in LangSmith's `dotted_order`, which orders every run of a trace by start. */
function dottedOrder(runs: PostedRun[]): string[] {
  return [...runs].sort((a, b) => a.dotted_order.localeCompare(b.dotted_order)).map((run) => `${run.name}@${run.dotted_order.split('.').length}`);
}

describe("LangSmith's LangChainTracer (from @langchain/core/tracers/tracer_langchain)", () => {
  const api = new LoopbackLangSmith();
  let apiUrl: string;

  beforeAll(async () => {
    apiUrl = await api.start();
  });

  afterAll(async () => {
    await api.stop();
  });

  async function record(run: (tracer: LangChainTracer) => Promise<unknown>): Promise<PostedRun[]> {
    api.runs.clear();
    const client = new Client({ apiUrl, apiKey: 'loopback-key', autoBatchTracing: true });
    const tracer = new LangChainTracer({ client, projectName: 'callscope-spec' });
    await run(tracer);
    await client.awaitPendingTraceBatches();
    return [...api.runs.values()];
  }

  describe.each(SCENARIOS)('%s', (scenario: Scenario) => {
    it('receives the same runs from callscope as from the same pipeline built with @langchain/core', async () => {
      const fromCallscope = await record((tracer) => runCallscope(scenario, tracer));
      const fromLangChain = await record((tracer) => runLangChain(scenario, tracer));

      expect(trees(fromCallscope)).toEqual(trees(fromLangChain));
      expect(dottedOrder(fromCallscope)).toEqual(dottedOrder(fromLangChain));
      // Every child's dotted_order extends its parent's, in one trace per root.
      for (const run of fromCallscope) {
        const parent = fromCallscope.find((candidate) => candidate.id === run.parent_run_id);
        if (parent !== undefined) {
          expect(run.dotted_order.startsWith(`${parent.dotted_order}.`)).toBe(true);
          expect(run.trace_id).toBe(parent.trace_id);
        }
      }
    });
  });

  it('receives tool inputs as objects, model runs with ls_* metadata and serialized messages', async () => {
    const runs = await record((tracer) => runCallscope('success', tracer));
    const tool = runs.find((run) => run.run_type === 'tool');
    const model = runs.find((run) => run.run_type === 'llm');

    expect(tool?.inputs).toEqual({ topic: 'Paris' });
    expect(model?.extra?.metadata).toMatchObject({ ls_provider: 'fake', ls_model_name: 'fake-chat-model', ls_model_type: 'chat' });
    expect(model?.inputs).toEqual({
      messages: [[{ lc: 1, type: 'constructor', id: ['langchain_core', 'messages', 'HumanMessage'], kwargs: { content: 'What about Paris?', additional_kwargs: {}, response_metadata: {} } }]],
    });
    expect(model?.outputs).toMatchObject({
      generations: [[{ text: TOKENS.join(''), message: { lc: 1, type: 'constructor', id: ['langchain_core', 'messages', 'AIMessage'], kwargs: { content: TOKENS.join('') } } }]],
    });
    expect(model?.events?.filter((event) => event.name === 'new_token')).toHaveLength(TOKENS.length);
  });
});
