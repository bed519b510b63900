/** concurrent, callscope in its default mode, in a fresh process (see concurrent-run.ts). */
import { CountingHandler, nestedChain } from '../pipelines/callscope';
import { runAsWorker } from '../harness/worker';
import { measureConcurrent, type ConcurrentInput } from './concurrent-run';

const chain = nestedChain(3, 'context');
runAsWorker((input: ConcurrentInput) =>
  measureConcurrent(input, {
    createHandler: () => new CountingHandler(),
    invoke: (handler) => chain.invoke(1, { callbacks: [handler] }),
    events: 6,
  }),
);
