export { RunCollector, type CollectedRun, type RunType } from './run-collector';
