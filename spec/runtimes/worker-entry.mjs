// The suite's entry inside workerd: a Worker bundled (spec/runtimes/run.mjs) from `callscope` as a bundler
// for Workers resolves it (the package's `browser` condition). POST the suite's input; the response is the result.
import * as callscope from 'callscope';
import * as http from 'callscope/http';
import { runScope } from 'callscope/hono';
import { Hono } from 'hono';
import { wrapOpenAI } from 'callscope/openai';
import OpenAI from 'openai';
import { runSuite } from './suite.mjs';

export default {
  async fetch(request) {
    const input = await request.json();
    return Response.json(await runSuite({ callscope, http, hono: { runScope, Hono }, openai: { wrapOpenAI, OpenAI }, ...input, urls: {} }));
  },
};
