// The suite's entry under Bun and Deno: imports the built package's ES module entry, runs the suite with the
// input file named on the command line, and prints the result on one marked line for spec/runtimes/run.mjs.
import * as callscope from '../../dist/index.mjs';
import * as http from '../../dist/http.mjs';
import { runScope } from '../../dist/hono.mjs';
import { Hono } from 'hono';
import { wrapOpenAI } from '../../dist/openai.mjs';
import OpenAI from 'openai';
import { runSuite } from './suite.mjs';

const args = globalThis.Deno?.args ?? globalThis.process.argv.slice(2);
const { default: input } = await import(new URL(args[0], 'file://').href, { with: { type: 'json' } });
const result = await runSuite({
  callscope,
  http,
  hono: { runScope, Hono },
  openai: { wrapOpenAI, OpenAI },
  ...input,
  urls: {
    fileUrl: import.meta.url,
    workerUrl: new URL('./worker-probe.mjs', import.meta.url).href,
    callscopeUrl: new URL('../../dist/index.mjs', import.meta.url).href,
  },
});
console.log(`CALLSCOPE_SUITE_RESULT ${JSON.stringify(result)}`);
