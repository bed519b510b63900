import { LogStreamCallbackHandler, type RunLog, type RunLogPatch } from '@langchain/core/tracers/log_stream';
import { normalise, runCallscope, runLangChain, SCENARIOS, TOKENS, type Scenario } from './pipelines';

interface ComparedLog {
  key: string;
  name: string;
  type: string;
  streamed_output: unknown;
  streamed_output_str: unknown;
  final_output: unknown;
  ended: boolean;
}

/** Runs `run` with a LogStreamCallbackHandler (the handler behind LangChain's streamLog) and folds its patches. */
async function record(run: (handler: LogStreamCallbackHandler) => Promise<unknown>): Promise<RunLog['state']> {
  const handler = new LogStreamCallbackHandler({ autoClose: false });
  const patches: RunLogPatch[] = [];
  const reading = (async () => {
    for await (const patch of handler) patches.push(patch);
  })();
  await run(handler);
  await handler.writer.close();
  await reading;
  const [first, ...rest] = patches;
  if (first === undefined) throw new Error('no patch was written');
  return (rest.reduce<RunLogPatch | RunLog>((log, patch) => log.concat(patch), first) as RunLog).state;
}

// Logs by key (LangChain names them after their runs, with `:2`, `:3`... for repeats), in start order.
function logs(state: RunLog['state']): ComparedLog[] {
  return Object.entries(state.logs)
    .sort(([, a], [, b]) => a.start_time.localeCompare(b.start_time) || 0)
    .map(([key, log]) => ({
      key,
      name: log.name,
      type: log.type,
      streamed_output: normalise(log.streamed_output),
      streamed_output_str: log.streamed_output_str,
      final_output: normalise(log.final_output),
      ended: log.end_time !== undefined,
    }));
}

describe("LangChain's LogStreamCallbackHandler (behind streamLog)", () => {
  describe.each(SCENARIOS)('%s', (scenario: Scenario) => {
    it('writes the same run log for callscope as for the same pipeline built with @langchain/core', async () => {
      const fromCallscope = await record((handler) => runCallscope(scenario, handler));
      const fromLangChain = await record((handler) => runLangChain(scenario, handler));

      expect(logs(fromCallscope).map(({ key }) => key).sort()).toEqual(logs(fromLangChain).map(({ key }) => key).sort());
      expect(logs(fromCallscope)).toEqual(logs(fromLangChain));
      expect(normalise(fromCallscope.final_output)).toEqual(normalise(fromLangChain.final_output));
    });
  });

  it("streams the model's tokens as generation chunks holding message chunks", async () => {
    const state = await record((handler) => runCallscope('stream', handler));
    const model = state.logs.FakeChatModel;

    expect(model?.streamed_output_str).toEqual(TOKENS);
    for (const [index, chunk] of (model?.streamed_output as { text: string; message: { _getType(): string; content: string } }[]).entries()) {
      expect(chunk.text).toBe(TOKENS[index]);
      expect(chunk.message._getType()).toBe('ai');
      expect(chunk.message.content).toBe(TOKENS[index]);
    }
  });
});
