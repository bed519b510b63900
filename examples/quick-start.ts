/**
 * Quick start: one handler given at the top sees every run below it (a tool, the chat model inside it, its
 * tokens), however deep, without any `config` passed by hand. This is the README's "Quick start", line for
 * line, with `'../lib'` in place of `'callscope'` (spec/readme.spec.ts checks that they stay the same).
 *
 * Run it with `npx tsx examples/quick-start.ts`.
 */
import { z } from 'zod';
import { BaseCallbackHandler, FakeChatModel, RunnableLambda, tool, type Serialized } from '../lib';

// A handler written for LangChain.js works as is: same method names, same arguments.
class Printer extends BaseCallbackHandler {
  override handleChainStart(_s: Serialized, _inputs: unknown, _runId: string, parentRunId?: string,
    _tags?: string[], _metadata?: Record<string, unknown>, _runType?: string, runName?: string): void {
    console.log(`chain ${runName} started${parentRunId ? '' : ' (root)'}`);
  }
  override handleToolStart(s: Serialized, input: string): void {
    console.log(`tool ${s.id.at(-1)} started with ${input}`);
  }
  override handleLLMNewToken(token: string): void {
    console.log(`token ${JSON.stringify(token)}`);
  }
}

const model = new FakeChatModel({ responses: ['Lisbon is sunny'], streaming: true });

// Nobody passes `config` on below: the handler given at the top still sees every run.
const forecast = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
  name: 'forecast',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string() }),
});
const agent = RunnableLambda.from(async (city: string) => forecast.invoke({ city }), { name: 'agent' });

agent.invoke('Lisbon', { callbacks: [new Printer()] }).then(
  (answer) => console.log(answer),
  (error: unknown) => console.error(error),
);

// Prints:
// chain agent started (root)
// tool forecast started with {"city":"Lisbon"}
// token "Lisbon"
// token " is"
// token " sunny"
// Lisbon is sunny
