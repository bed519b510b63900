export type { ContextBackend, PropagationMode } from './backend';
export { createAsyncLocalStorageBackend, hasAsyncLocalStorage, sharedStorage } from './async-local-storage';
export { createAsyncContextBackend, hasAsyncContext } from './async-context';
export { bestPropagationMode } from './detect';
export { createClsHookedBackend } from './cls-hooked';
export { createExplicitBackend } from './explicit';
