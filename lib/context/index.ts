export type { ContextBackend, PropagationMode } from './backend';
export { createAsyncLocalStorageBackend, sharedStorage } from './async-local-storage';
export { createClsHookedBackend } from './cls-hooked';
export { createExplicitBackend } from './explicit';
