// The suite's entry in a browser page: bundled (spec/runtimes/run.mjs) from `callscope` as a bundler for
// browsers resolves it (the package's `browser` condition); the driver calls runCallscopeSuite(input).
import * as callscope from 'callscope';
import * as http from 'callscope/http';
import { runScope } from 'callscope/hono';
import { Hono } from 'hono';
import { wrapOpenAI } from 'callscope/openai';
import OpenAI from 'openai';
import { runSuite } from './suite.mjs';

globalThis.callscopePropagation = callscope.getConfiguration().propagation;
globalThis.runCallscopeSuite = (input) => runSuite({ callscope, http, hono: { runScope, Hono }, openai: { wrapOpenAI, OpenAI }, ...input, urls: {} });
