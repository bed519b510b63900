/** concurrent, the hand-written floor (see concurrent-run.ts). */
import { FloorCountingHandler, floorNestedChain } from '../pipelines/floor';
import { runAsWorker } from '../harness/worker';
import { measureConcurrent, type ConcurrentInput } from './concurrent-run';

const chain = floorNestedChain(3);
runAsWorker((input: ConcurrentInput) =>
  measureConcurrent(input, {
    createHandler: () => new FloorCountingHandler(),
    invoke: (handler) => chain(1, handler),
    events: 6,
  }),
);
