export { traceable } from './traceable';
export type { TraceableFunction, TraceableOptions, TraceableOutput, TraceableRunType, TraceableTarget } from './traceable';
