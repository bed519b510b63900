#!/usr/bin/env node
/**
 * `npx callscope view runs.jsonl [--out trace.html] [--open]`: the package's command line. Built to
 * dist/cli.cjs, the `bin` of package.json.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join, dirname } from 'node:path';
import { readJsonlRuns } from './format';
import { renderPage } from './page';

const USAGE = `Usage: callscope view <runs.jsonl> [--out <trace.html>] [--open]

Writes one self-contained HTML file (no network access when opened) showing the runs a JsonlTracer wrote:
a waterfall of every run tree, details of the selected run, filters and search.

  --out <file>   where to write the page (default: next to the input, with .html)
  --open         open the page in the default browser afterwards
  --help         this text`;

/** Where the command writes what it says. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** How many skipped lines the command lists; the page lists them all (up to 1,000). */
const LISTED_PROBLEMS = 20;

/**
 * Runs the command line.
 *
 * @param argv - the arguments after the program name, such as `['view', 'runs.jsonl']`.
 * @param output - where messages go; the process's stdout and stderr by default.
 * @returns the exit code: 0 when the page was written, 1 on a usage error or an unreadable file.
 */
export function main(argv: readonly string[], output: CliOutput = defaultOutput()): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    output.out(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'view') {
    output.err(`callscope: unknown command \`${command}\`; expected \`view\`.\n\n${USAGE}`);
    return 1;
  }
  let input: string | undefined;
  let out: string | undefined;
  let open = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--help' || arg === '-h') {
      output.out(USAGE);
      return 0;
    } else if (arg === '--open') open = true;
    else if (arg === '--out' || arg === '-o') {
      out = rest[++i];
      if (out === undefined || out === '') {
        output.err(`callscope view: expected a file name after \`${arg}\`.`);
        return 1;
      }
    } else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else if (arg.startsWith('-')) {
      output.err(`callscope view: unknown option \`${arg}\`; expected --out <file>, --open or --help.`);
      return 1;
    } else if (input === undefined) input = arg;
    else {
      output.err(`callscope view: expected one input file, got \`${input}\` and \`${arg}\`.`);
      return 1;
    }
  }
  if (input === undefined) {
    output.err(`callscope view: expected the JSONL file to read.\n\n${USAGE}`);
    return 1;
  }
  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (error) {
    output.err(`callscope view: cannot read ${input}: ${messageOf(error)}`);
    return 1;
  }
  const { runs, problems } = readJsonlRuns(text);
  const target = out ?? join(dirname(input), `${basename(input, extname(input))}.html`);
  try {
    writeFileSync(target, renderPage({ mode: 'static', title: basename(input), runs, problems }));
  } catch (error) {
    output.err(`callscope view: cannot write ${target}: ${messageOf(error)}`);
    return 1;
  }
  for (const problem of problems.slice(0, LISTED_PROBLEMS)) output.err(`${input}:${problem.line}: skipped: ${problem.message}`);
  if (problems.length > LISTED_PROBLEMS) output.err(`… and ${problems.length - LISTED_PROBLEMS} more skipped lines (listed in the page).`);
  const errors = runs.filter((run) => run.error !== null).length;
  output.out(`Wrote ${target}: ${runs.length} runs (${errors} failed)${problems.length > 0 ? `, ${problems.length} lines skipped` : ''}.`);
  if (open) openInBrowser(target, output);
  return 0;
}

// Errors from node:fs may come from another realm (a test runner's sandbox): no `instanceof Error`.
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

function defaultOutput(): CliOutput {
  return { out: (text) => console.log(text), err: (text) => console.error(text) };
}

// The platform's own opener; a failure to open is reported, the page is written either way.
function openInBrowser(file: string, output: CliOutput): void {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [file]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', file]] : ['xdg-open', [file]];
  const child = spawn(command, args, { stdio: 'ignore', detached: true });
  child.on('error', (error) => output.err(`callscope view: could not open the page (${error.message}); open ${file} yourself.`));
  child.unref();
}

// Run when executed (the bin: `npx callscope`, `node dist/cli.cjs`), not when imported (the specs): Node gives
// the main module the id '.'. Read from `module` rather than `require.main`: a `require` here made the bundler
// add its require shim to a chunk that every entry point then loaded at import (one more file to resolve, read
// and compile).
if (typeof module !== 'undefined' && module.id === '.') process.exitCode = main(process.argv.slice(2));
