import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { configure, ConfigError, getConfiguration, type ConfigureOptions } from '../../lib';

afterEach(() => configure({ propagation: 'async-local-storage', onHandlerError: undefined }));

it('documents its defaults', () => {
  expect(getConfiguration()).toEqual({
    propagation: 'async-local-storage',
    onHandlerError: undefined,
    onLostCallbacks: 'ignore',
    callbacks: 'blocking',
    handlerTimeoutMs: undefined,
    maxQueuedEvents: 10_000,
    shutdownSignals: [],
    shutdownTimeoutMs: 5_000,
  });
});

describe('configure()', () => {
  it("defaults to 'async-local-storage' propagation", () => {
    const script = "const { getConfiguration } = require('./lib'); console.log(getConfiguration().propagation);";
    const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
    expect(child.stdout.trim()).toBe('async-local-storage');
  });

  it.each(['explicit', 'cls-hooked', 'async-local-storage'] as const)("switches to '%s' and reports it in getConfiguration()", (mode) => {
    const returned = configure({ propagation: mode });
    expect(returned.propagation).toBe(mode);
    expect(getConfiguration().propagation).toBe(mode);
  });

  it('keeps the settings it is not given', () => {
    const onHandlerError = () => undefined;
    configure({ onHandlerError });
    configure({ propagation: 'explicit' });
    expect(getConfiguration()).toEqual({
      propagation: 'explicit',
      onHandlerError,
      onLostCallbacks: 'ignore',
      callbacks: 'blocking',
      handlerTimeoutMs: undefined,
      maxQueuedEvents: 10_000,
      shutdownSignals: [],
      shutdownTimeoutMs: 5_000,
    });
  });

  it('returns a frozen copy', () => {
    expect(Object.isFrozen(getConfiguration())).toBe(true);
  });

  it.each([
    ['an unknown mode', { propagation: 'zone.js' }, "Expected `propagation` to be one of 'async-local-storage', 'cls-hooked', 'explicit', got `\"zone.js\"` (string)"],
    ['a misspelt option', { propogation: 'explicit' }, 'Unknown option `propogation`'],
    ['a non-function onHandlerError', { onHandlerError: 'log' }, 'Expected `onHandlerError` to be a function'],
    ['a non-object', 'explicit', 'Expected configure() options to be an object'],
    ['an unknown delivery mode', { callbacks: 'async' }, "Expected `callbacks` to be one of 'blocking', 'background', got `\"async\"` (string)"],
    ['a zero handler timeout', { handlerTimeoutMs: 0 }, 'Expected `handlerTimeoutMs` to be a positive number of milliseconds'],
    ['a fractional queue bound', { maxQueuedEvents: 2.5 }, 'Expected `maxQueuedEvents` to be a whole number of at least 1'],
    ['an unknown diagnostics policy', { onLostCallbacks: 'log' }, "Expected `onLostCallbacks` to be one of 'ignore', 'warn', 'throw'"],
    ['an unknown shutdown signal', { shutdownSignals: ['SIGKILL'] }, "Expected `shutdownSignals` to be an array of 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'"],
    ['a shutdown timeout of Infinity', { shutdownTimeoutMs: Infinity }, 'Expected `shutdownTimeoutMs` to be a positive number of milliseconds'],
  ])('throws ConfigError for %s and changes nothing', (_, options, message) => {
    configure({ propagation: 'explicit' });
    expect(() => configure(options as unknown as ConfigureOptions)).toThrow(ConfigError);
    expect(() => configure(options as unknown as ConfigureOptions)).toThrow(message);
    expect(getConfiguration().propagation).toBe('explicit');
  });
});
