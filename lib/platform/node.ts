/**
 * What the core takes from the runtime, Node's version (also used under Bun and Deno, which implement these
 * `node:` modules). The browser build swaps this file for `./browser.mts` (see tsup.config.ts); both export the
 * same names, so every other core module imports `../platform` and stays free of `node:` imports.
 */
import * as asyncHooks from 'node:async_hooks';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type * as NodeCrypto from 'node:crypto';
import type * as NodeFs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as NodeStreamPromises from 'node:stream/promises';
import type * as NodeTimersPromises from 'node:timers/promises';
import { types } from 'node:util';
import type { Colors, UuidModule, Zod } from './dependencies';

// Startup cost matters (issue: importing callscope must cost at most 15 ms over bare Node): modules that
// are slow to load and needed only by some features (`node:crypto` alone is about 10 ms, zod about 120 ms)
// are required on first use through `load`, never at import.

// Resolved relative to this file in both the CommonJS and the ESM build (which shims __filename).
const load = createRequire(__filename);

/** Whether the runtime has AsyncLocalStorage: always, here (Node, Bun, Deno). */
export const asyncLocalStorageAvailable = true;

// The two classes are read on first use, not at import: reading them makes Node load its implementation of
// AsyncLocalStorage (about 0.3 ms).

/**
 * Whether making an `AbortSignal` costs about as little as any object: yes from Node 22 (tens of
 * nanoseconds); on Node 20 one costs about 5 µs, so a signal that may never be read is made on first read
 * there (see `deferSignal` in lib/runnables/config.ts). Either way is correct; Bun and Deno follow the Node
 * version they report.
 */
export const cheapAbortSignals: boolean = Number((process.versions as { node?: string } | undefined)?.node?.split('.')[0] ?? 0) >= 22;

/** The runtime's AsyncLocalStorage class, or `undefined` where it has none. */
export const asyncLocalStorageClass = (): typeof AsyncLocalStorage | undefined => AsyncLocalStorage;

/**
 * The runtime's AsyncResource class, or `undefined` where it has none: a resource captures the context it
 * was made in and re-enters it for a fraction of what `AsyncLocalStorage.run` costs (see `outside` in
 * ../context/async-local-storage.ts).
 */
export const asyncResourceClass = (): typeof AsyncResource | undefined => AsyncResource;

/**
 * The runtime's `executionAsyncResource` (`node:async_hooks`), or `undefined` where it has none: on Node 20
 * and 22, whose AsyncLocalStorage keeps its value on that resource, entering a value there directly costs
 * one call into the runtime instead of the three `run` makes (see `resourceWith` in
 * ../context/async-local-storage.ts). Read through the namespace: a runtime without it gives `undefined`.
 */
export const executionAsyncResourceFunction = (): (() => object) | undefined =>
  typeof asyncHooks.executionAsyncResource === 'function' ? asyncHooks.executionAsyncResource : undefined;

/** Why there is no AsyncLocalStorage class (never, here). */
export const asyncLocalStorageMissing: string | undefined = undefined;

let randomFill: typeof NodeCrypto.randomFillSync | undefined;

/** `byteCount` (at most 64 KiB) cryptographically strong random bytes, in a new array. */
export const randomBytes = (byteCount: number): Uint8Array => {
  randomFill ??= (load('node:crypto') as typeof NodeCrypto).randomFillSync;
  return randomFill(new Uint8Array(byteCount));
};

/** True for errors made by the runtime or any realm, even without `Error` on their prototype chain. */
export const isNativeError = (value: unknown): value is Error => types.isNativeError(value);

/** Resolves after `ms` milliseconds; rejects with an `AbortError` as soon as `signal` aborts. */
let timers: typeof NodeTimersPromises | undefined;
export const delay = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  (timers ??= load('node:timers/promises') as typeof NodeTimersPromises).setTimeout(ms, undefined, signal ? { signal } : undefined);

/** `require(id)` from callscope's own location; throws when the module cannot be loaded. */
export const requireFromLibrary = (id: string): unknown => load(id) as unknown;

const LIBRARY_ROOT = path.resolve(__dirname, '..') + path.sep;

/** True when a stack frame's file belongs to the runtime, a dependency or callscope itself, not the caller. */
export const isLibraryFrame = (file: string): boolean =>
  file.startsWith('node:') || file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith(LIBRARY_ROOT);

/** Reports a warning the way the runtime does (`process.emitWarning` here). */
export const emitWarning = (message: string, code: string): void => {
  process.emitWarning(message, { type: 'CallscopeWarning', code });
};

/** Calls `fn` when the event loop empties, before the process exits. */
export const onBeforeExit = (fn: () => void): void => {
  process.on('beforeExit', fn);
};

/** A writable stream appending to the file at `filePath`. */
export const openAppendStream = (filePath: string): NodeJS.WritableStream =>
  (load('node:fs') as typeof NodeFs).createWriteStream(filePath, { flags: 'a', encoding: 'utf8' });

/** Resolves when `stream` has finished (or failed). */
export const streamFinished = (stream: NodeJS.WritableStream): Promise<void> =>
  (load('node:stream/promises') as typeof NodeStreamPromises).finished(stream).catch(() => undefined);

/** The default output of printing tracers: standard output. */
export const standardOutput = (): NodeJS.WritableStream => process.stdout;

/** An environment variable, or `undefined`. */
export const environment = (name: string): string | undefined => process.env[name];

/** zod's `z`, loaded on first use: config, settings and option schemas are built when first needed. */
let zod: Zod | undefined;
export const loadZod = (): Zod => (zod ??= (load('zod') as { z: Zod }).z);

/** The `uuid` package, loaded on first use (to validate run ids given by users). */
// Memoised: a run id given in a config is validated on every invoke (a server's request run, for one), and
// `require` resolves its specifier again on each call.
let uuid: UuidModule | undefined;
export const loadUuid = (): UuidModule => (uuid ??= load('uuid') as UuidModule);

/** picocolors, loaded when a printing tracer is made. */
let colors: Colors | undefined;
export const loadColors = (): Colors => (colors ??= load('picocolors') as Colors);
