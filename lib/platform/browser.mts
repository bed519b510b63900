/**
 * What the core takes from the runtime, for browsers and Web-standard runtimes such as Cloudflare Workers:
 * the browser build (package.json `browser` / `workerd` / `worker` conditions) uses this file in place of
 * `./node.ts`, with the same names and no static `node:` import.
 */
import type { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import picocolors from 'picocolors';
import * as uuid from 'uuid';
import { z } from 'zod';
import { ConfigError, describeValue } from '../errors.js';
import type { Colors, UuidModule, Zod } from './dependencies.js';

type AlsClass = typeof AsyncLocalStorage;

interface RuntimeGlobals {
  AsyncLocalStorage?: AlsClass;
  process?: { emitWarning?: (message: string, options: { type: string; code: string }) => void; env?: Record<string, string | undefined> };
}

const runtime = globalThis as typeof globalThis & RuntimeGlobals;

// Cloudflare Workers (workerd) offer `node:async_hooks` only with the `nodejs_als` or `nodejs_compat` flag,
// and a static import of it fails to load without one. The module is therefore probed once, here, with a
// dynamic import whose specifier bundlers leave alone; browsers reject it, which means "no AsyncLocalStorage".
// Top-level await makes the answer known before any code can start a run.
const ASYNC_HOOKS = 'node:async_hooks';
async function probeAsyncLocalStorage(): Promise<AlsClass | undefined> {
  if (typeof runtime.AsyncLocalStorage === 'function') return runtime.AsyncLocalStorage;
  try {
    const module = (await import(/* @vite-ignore */ /* webpackIgnore: true */ ASYNC_HOOKS)) as { AsyncLocalStorage?: AlsClass };
    return typeof module.AsyncLocalStorage === 'function' ? module.AsyncLocalStorage : undefined;
  } catch {
    return undefined;
  }
}

const probed: AlsClass | undefined = await probeAsyncLocalStorage();

/** The runtime's AsyncLocalStorage class, or `undefined` where it has none. */
export const asyncLocalStorageClass = (): AlsClass | undefined => probed;

/** Whether the runtime has AsyncLocalStorage. */
export const asyncLocalStorageAvailable: boolean = probed !== undefined;

/**
 * Not used here: the AsyncLocalStorage of Workers and other Web runtimes is re-entered with `run` (see
 * `outside` in ../context/async-local-storage.ts), which is what their AsyncResource would do anyway.
 */
export const asyncResourceClass = (): typeof AsyncResource | undefined => undefined;

/** No `executionAsyncResource` in a browser: AsyncLocalStorage, where a runtime has one, is entered with `run`. */
export const executionAsyncResourceFunction = (): (() => object) | undefined => undefined;

/** Whether making an `AbortSignal` is cheap: not assumed here, so a signal that may never be read is made on first read. */
export const cheapAbortSignals = false;

/** Why there is no AsyncLocalStorage class, for error messages. */
export const asyncLocalStorageMissing: string | undefined =
  probed === undefined
    ? 'this runtime has no AsyncLocalStorage (no global one, and `node:async_hooks` cannot be loaded; on Cloudflare Workers, enable the `nodejs_als` or `nodejs_compat` compatibility flag)'
    : undefined;

/** `byteCount` (at most 64 KiB) cryptographically strong random bytes, in a new array. */
export const randomBytes = (byteCount: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(byteCount));

/** True for errors: here, values with `Error` on their prototype chain or tagged `[object Error]`. */
export const isNativeError = (value: unknown): value is Error =>
  value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';

/** Resolves after `ms` milliseconds; rejects with an `AbortError` as soon as `signal` aborts. */
export const delay = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    const abortError = (): Error => Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: signal?.reason as unknown });
    if (signal?.aborted === true) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** `require` does not exist here: optional packages and `cls-hooked` cannot be loaded. */
export const requireFromLibrary = (id: string): unknown => {
  throw new Error(`Cannot load \`${id}\`: this runtime has no require() (browser build of callscope).`);
};

// The URL of the module holding this code, and of the folder of the browser build's other files (its entry
// points and shared chunks, dist/browser*.mjs): frames from any of them are callscope's own. Bundled into an
// app, all of callscope is in the app's one file, this URL. Workers have no module URL (`undefined`).
const LIBRARY_URL: string | undefined = (import.meta as { url?: string }).url;
const LIBRARY_FOLDER: string | undefined = typeof LIBRARY_URL === 'string' ? LIBRARY_URL.slice(0, LIBRARY_URL.lastIndexOf('/') + 1) : undefined;
const BUILD_FILE = /^browser(-[\w-]+)?\.mjs$/;

/** True when a stack frame's file is callscope's own module (or a dependency), not the caller. */
export const isLibraryFrame = (file: string): boolean =>
  file === LIBRARY_URL ||
  file.includes('/node_modules/') ||
  (LIBRARY_FOLDER !== undefined && file.startsWith(LIBRARY_FOLDER) && BUILD_FILE.test(file.slice(LIBRARY_FOLDER.length)));

/** Reports a warning: `process.emitWarning` where it exists, `console.warn` otherwise. */
export const emitWarning = (message: string, code: string): void => {
  if (typeof runtime.process?.emitWarning === 'function') runtime.process.emitWarning(message, { type: 'CallscopeWarning', code });
  else console.warn(`CallscopeWarning [${code}]: ${message}`);
};

/** No process to exit here: background queues are drained by `awaitAllCallbacks()` alone. */
export const onBeforeExit = (_fn: () => void): void => undefined;

/** There is no file system: a path is refused with a ConfigError. */
export const openAppendStream = (filePath: string): NodeJS.WritableStream => {
  throw new ConfigError(
    'pathOrStream',
    filePath,
    `Expected JsonlTracer() to receive a writable stream (an object with write() and on()) in this runtime, which has no file system, got ${describeValue(filePath)}.`,
    { code: 'INVALID_ARGUMENT' },
  );
};

/** Resolves when `stream` has finished (or failed). */
export const streamFinished = (stream: NodeJS.WritableStream): Promise<void> =>
  new Promise((resolve) => {
    stream.once('finish', () => resolve());
    stream.once('error', () => resolve());
  });

/** The default output of printing tracers: `console.log`, one call per line. */
export const standardOutput = (): NodeJS.WritableStream => {
  let pending = '';
  const write = (chunk: unknown): boolean => {
    pending += String(chunk);
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) console.log(line);
    return true;
  };
  return { write } as unknown as NodeJS.WritableStream;
};

/** An environment variable where the runtime has `process.env`, or `undefined`. */
export const environment = (name: string): string | undefined => runtime.process?.env?.[name];

/** zod's `z` (bundled into the browser build, where nothing can be loaded later). */
export const loadZod = (): Zod => z;

/** The `uuid` package (bundled). */
export const loadUuid = (): UuidModule => uuid;

/** picocolors (bundled; its browser build prints no colours). */
export const loadColors = (): Colors => picocolors;
