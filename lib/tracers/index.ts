export { RunTracer, type RunEndInfo, type RunStartInfo, type RunType } from './run-tracer';
export { RunCollector, type CollectedRun } from './run-collector';
export { ConsoleTracer, type ConsoleTracerOptions } from './console-tracer';
export { JsonlTracer, type JsonlRunRecord } from './jsonl-tracer';
export type { JsonError, JsonValue } from './internal/to-json-value';
