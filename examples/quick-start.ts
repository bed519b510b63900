/**
 * Quick start: one handler given at the top sees every run below it, however deep, without any `config`
 * passed by hand. Tags given at the top are inherited too.
 *
 * Run it with `npx tsx examples/quick-start.ts`.
 */
import { BaseCallbackHandler, FakeChatModel, RunnableLambda, type ChainValues, type LLMResult, type Serialized } from '../lib';

/** Prints each run as it starts and ends, indented by depth. */
class TreePrinter extends BaseCallbackHandler {
  private readonly depth = new Map<string, number>();

  override handleChainStart(
    _serialized: Serialized,
    inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    _metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): void {
    this.print(runId, parentRunId, `start ${runName} ${JSON.stringify(inputs)} tags=${JSON.stringify(tags)}`);
  }

  override handleChainEnd(outputs: ChainValues, runId: string): void {
    this.print(runId, undefined, `end ${JSON.stringify(outputs)}`);
  }

  override handleLLMStart(
    serialized: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
  ): void {
    this.print(runId, parentRunId, `start ${serialized.id.at(-1)} ${JSON.stringify(prompts)} tags=${JSON.stringify(tags)}`);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    this.print(runId, undefined, `end ${JSON.stringify(output.generations[0]?.[0]?.text)}`);
  }

  private print(runId: string, parentRunId: string | undefined, text: string): void {
    if (!this.depth.has(runId)) {
      const parentDepth = parentRunId === undefined ? -1 : (this.depth.get(parentRunId) ?? -1);
      this.depth.set(runId, parentDepth + 1);
    }
    console.log(`${'  '.repeat(this.depth.get(runId) ?? 0)}${text}`);
  }
}

const model = new FakeChatModel({ responses: ['Callbacks, everywhere'] });

// Neither function passes a config on: the runs they start still link to theirs.
const writeTitle = RunnableLambda.from(async (topic: string) => (await model.invoke(`A title about ${topic}`)).content, {
  name: 'writeTitle',
});
const headline = RunnableLambda.from(async (topic: string) => (await writeTitle.invoke(topic)).toUpperCase(), {
  name: 'headline',
});

async function main(): Promise<void> {
  const result = await headline.invoke('context', { callbacks: [new TreePrinter()], tags: ['quick-start'] });
  console.log(`Result: ${result}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// start headline {"input":"context"} tags=["quick-start"]
//   start writeTitle {"input":"context"} tags=["quick-start"]
//     start FakeChatModel ["Human: A title about context"] tags=["quick-start"]
//     end "Callbacks, everywhere"
//   end {"output":"Callbacks, everywhere"}
// end {"output":"CALLBACKS, EVERYWHERE"}
// Result: CALLBACKS, EVERYWHERE
