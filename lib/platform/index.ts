// The browser build resolves this module to ./browser.mts instead (tsup.config.ts); see ./node.ts.
export {
  AsyncLocalStorageClass,
  asyncLocalStorageMissing,
  delay,
  emitWarning,
  environment,
  isLibraryFrame,
  isNativeError,
  loadColors,
  loadUuid,
  loadZod,
  onBeforeExit,
  openAppendStream,
  randomHex,
  requireFromLibrary,
  standardOutput,
  streamFinished,
} from './node';
