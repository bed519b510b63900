import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './worker';

/** Where and how a run happened: recorded at the top of RESULTS.md so the numbers can be compared. */
export interface RunEnvironment {
  /** ISO 8601, UTC. */
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly node: string;
  readonly platform: string;
  /** Load averages (1, 5, 15 minutes) when the run started: other work on the machine skews the times. */
  readonly load: string;
  /** The command as typed, and what npm ran for it. */
  readonly command: string;
  /** The commit of the work tree, with a mark when it has uncommitted changes. */
  readonly commit: string;
}

/** Describes this process's machine, Node and command line. */
export function describeEnvironment(args: readonly string[]): RunEnvironment {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    platform: `${os.type()} ${os.release()} (${os.arch()})`,
    load: loadAverage(),
    command: commandLine(args),
    commit: gitCommit(),
  };
}

function commandLine(args: readonly string[]): string {
  const event = process.env.npm_lifecycle_event;
  const script = process.env.npm_lifecycle_script;
  if (event !== undefined && script !== undefined) {
    // The script's own arguments (`--smoke` in bench:smoke) come first; the rest were typed after `--`.
    const words = script.split(/\s+/);
    const own = words.slice(words.findIndex((word) => word.endsWith('bench/index.ts')) + 1);
    const typed = own.every((word, index) => args[index] === word) ? args.slice(own.length) : args;
    return `npm run ${event}${typed.length > 0 ? ` -- ${typed.join(' ')}` : ''} (runs \`${script}\`)`;
  }
  const entry = path.relative(ROOT, process.argv[1] ?? 'bench/index.ts');
  return `tsx ${[entry, ...args].join(' ')}`;
}

function gitCommit(): string {
  try {
    const git = (...gitArgs: string[]): string => execFileSync('git', gitArgs, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'lib') !== '';
    return dirty ? `${head} (lib/ has uncommitted changes)` : head;
  } catch {
    return 'unknown (not a git work tree)';
  }
}

/** The 1, 5 and 15 minute load averages, as `0.52, 0.31, 0.20`. */
export function loadAverage(): string {
  return os.loadavg().map((load) => load.toFixed(2)).join(', ');
}

/** Whether other work kept the cores busy: a 1-minute load average at or above the core count. */
export function machineBusy(): boolean {
  return (os.loadavg()[0] ?? 0) >= os.cpus().length;
}
