/** concurrent, @langchain/core with its context initialised and background callbacks off (see concurrent-run.ts). */
import '../pipelines/langchain-env';
import { LangChainCountingHandler, langChainNestedChain } from '../pipelines/langchain';
import { runAsWorker } from '../harness/worker';
import { measureConcurrent, type ConcurrentInput } from './concurrent-run';

const chain = langChainNestedChain(3);
runAsWorker((input: ConcurrentInput) =>
  measureConcurrent(input, {
    createHandler: () => new LangChainCountingHandler(),
    invoke: (handler) => chain.invoke(1, { callbacks: [handler] }),
    events: 6,
  }),
);
