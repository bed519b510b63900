export type { Callbacks, RunnableConfig } from './config';
export { Runnable, type BatchOptions, type RunnableLike } from './runnable';
export { RunnableLambda, type LambdaFunction, type RunnableLambdaOptions } from './lambda';
export { RunnableGenerator, type GeneratorFunction, type RunnableGeneratorOptions } from './generator';
export { RunnableSequence, type RunnableSequenceOptions } from './sequence';
export { withCallbacks } from './with-callbacks';
export { combineChunks } from './combine';
