// Runs in a worker_threads worker started by the suite's worker boundary: another isolate, where no context
// crosses. With the remedy, the parent run id arrives as data and the worker's run attaches to it.
import { parentPort, workerData } from 'node:worker_threads';

const { CallbackManager, getCurrentConfig, RunCollector, RunnableLambda } = await import(workerData.callscopeUrl);
const collector = new RunCollector();
const callbacks = workerData.parentRunId ? new CallbackManager([collector], { parentRunId: workerData.parentRunId }) : [collector];
await RunnableLambda.from((x) => x, { name: 'child' }).invoke(1, { callbacks });
parentPort.postMessage({ sawConfig: getCurrentConfig() !== undefined, parentRunId: collector.runs[0].parentRunId });
