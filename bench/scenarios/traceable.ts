/* eslint-disable @typescript-eslint/require-await -- the workloads are async functions on purpose, as in user code */
import Anthropic from '@anthropic-ai/sdk';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { interleave, repeat, type Contender } from '../harness/interleave';
import type { Scenario, ScenarioReport, Table } from '../harness/report';
import { formatDuration, formatRatio } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { CountingHandler, nestedChain, TokenCounter, useMode } from '../pipelines/callscope';
import type { TraceableFunction } from '../../lib';
import type { BenchSizes } from '../settings';
import { traceable, wrapAnthropic, wrapOpenAI } from '../target';
import { measured, roundSpread } from './shared';

const LAMBDAS = 'nested-3 of RunnableLambda';
const TRACEABLES = 'nested-3 of traceable functions';
const TOKENS = 1_000;

/** nested-3 built from traceable functions: top → mid → leaf, each an async function calling the next. */
function traceableChain(): TraceableFunction<(x: number) => Promise<number>> {
  const leaf = traceable(async (x: number) => x + 1, { name: 'level-2' });
  const mid = traceable(async (x: number) => leaf(x), { name: 'level-1' });
  return traceable(async (x: number) => mid(x), { name: 'level-0' });
}

/** A loopback server streaming the same 1,000-token answer in each API's wire protocol. */
async function startStreamingServer(): Promise<{ server: Server; baseURL: string }> {
  const words = Array.from({ length: TOKENS }, (_, index) => ` w${index}`);
  const anthropicBody =
    [
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'bench', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      ...words.map((text) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: TOKENS } },
      { type: 'message_stop' },
    ]
      .map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
      .join('');
  const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const openaiBody = [chunk({ role: 'assistant', content: '' }, null), ...words.map((content) => chunk({ content }, null)), chunk({}, 'stop'), 'data: [DONE]\n\n'].join('');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(req.url?.includes('/chat/completions') === true ? openaiBody : anthropicBody);
    });
  });
  // The SDKs' fetch keeps connections alive between samples, and a turn of the other contenders can outlast
  // Node's default 5 s keep-alive: a connection the server closes as the client reuses it fails the call.
  server.keepAliveTimeout = 10 * 60 * 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** One contender streaming the 1,000-token answer through `consume`, inside a traced function with a token counter. */
async function streamContender(name: string, consume: () => Promise<number>, wrapped: boolean, minSamples: number): Promise<Contender> {
  const check = new TokenCounter();
  const deltas = await traceable(consume).withConfig({ callbacks: [check] })();
  expectCount(`${name}: text deltas read`, deltas, TOKENS);
  expectCount(`${name}: token events`, check.tokens, wrapped ? TOKENS : 0);
  const counter = new TokenCounter();
  const call = traceable(consume, { name }).withConfig({ callbacks: [counter] });
  return { name, minSamples, sample: () => call() };
}

/**
 * traceable: nested-3 of traceable functions against nested-3 of RunnableLambda; and a wrapped SDK client's
 * cost per streamed token against the same client unwrapped, on a 1,000-token loopback stream.
 */
export const traceableScenario: Scenario<BenchSizes> = {
  name: 'traceable',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    useMode('async-local-storage');
    const ops = sizes.opsPerSample.nested3;

    // Both chains get their one handler the same way: bound once with withConfig, inherited by the children.
    const lambdaHandler = new CountingHandler();
    const lambdas = nestedChain(3, 'context').withConfig({ callbacks: [lambdaHandler] });
    const traceHandler = new CountingHandler();
    const traced = traceableChain().withConfig({ callbacks: [traceHandler] });
    expectCount('nested-3 of RunnableLambda: output', await lambdas.invoke(1), 2);
    expectCount('nested-3 of RunnableLambda: events', lambdaHandler.events, 6);
    expectCount('nested-3 of traceable: output', await traced(1), 2);
    expectCount('nested-3 of traceable: events', traceHandler.events, 6);
    const nested = await interleave(
      [
        { name: LAMBDAS, opsPerSample: ops, sample: repeat(ops, () => lambdas.invoke(1)) },
        { name: TRACEABLES, opsPerSample: ops, sample: repeat(ops, () => traced(1)) },
      ],
      sizes.micro,
    );
    const lambdaTime = measured(nested, LAMBDAS);
    const traceTime = measured(nested, TRACEABLES);
    const ratio = traceTime.medianMs / lambdaTime.medianMs;
    const nestedTable: Table = {
      caption: 'nested-3 with one handler',
      headers: ['contender', 'median / call', 'round medians', 'this ÷ RunnableLambda'],
      rows: [
        [LAMBDAS, formatDuration(lambdaTime.medianMs), roundSpread(lambdaTime), '—'],
        [TRACEABLES, formatDuration(traceTime.medianMs), roundSpread(traceTime), formatRatio(ratio)],
      ],
    };

    const { server, baseURL } = await startStreamingServer();
    try {
      const anthropicRaw = new Anthropic({ apiKey: 'bench', baseURL, maxRetries: 0 });
      const anthropic = wrapAnthropic(anthropicRaw);
      const openaiRaw = new OpenAI({ apiKey: 'bench', baseURL: `${baseURL}/v1`, maxRetries: 0 });
      const openai = wrapOpenAI(openaiRaw);
      const readAnthropic = (client: Anthropic) => async (): Promise<number> => {
        let deltas = 0;
        const stream = await client.messages.create({ model: 'bench', max_tokens: 2000, messages: [{ role: 'user', content: 'Go' }], stream: true });
        for await (const event of stream) if (event.type === 'content_block_delta') deltas++;
        return deltas;
      };
      const readOpenAI = (client: OpenAI) => async (): Promise<number> => {
        let deltas = 0;
        const stream = await client.chat.completions.create({ model: 'bench', messages: [{ role: 'user', content: 'Go' }], stream: true });
        for await (const part of stream) if (part.choices[0]?.delta.content) deltas++;
        return deltas;
      };
      const names = {
        anthropicRaw: '@anthropic-ai/sdk, unwrapped',
        anthropic: '@anthropic-ai/sdk, wrapAnthropic',
        openaiRaw: 'openai, unwrapped',
        openai: 'openai, wrapOpenAI',
      };
      // Calls take tens of milliseconds and vary with the loopback I/O: a fixed number of samples per round.
      const minSamples = sizes.clientStreamSamples;
      const streams = await interleave(
        [
          await streamContender(names.anthropicRaw, readAnthropic(anthropicRaw), false, minSamples),
          await streamContender(names.anthropic, readAnthropic(anthropic), true, minSamples),
          await streamContender(names.openaiRaw, readOpenAI(openaiRaw), false, minSamples),
          await streamContender(names.openai, readOpenAI(openai), true, minSamples),
        ],
        sizes.micro,
      );
      const perToken = (wrapped: string, raw: string): string => {
        const extra = measured(streams, wrapped).medianMs - measured(streams, raw).medianMs;
        return `${formatDuration(extra / TOKENS)} / token`;
      };
      const row = (name: string, raw?: string): string[] => {
        const m = measured(streams, name);
        return [name, formatDuration(m.medianMs), roundSpread(m), formatDuration(m.medianMs / TOKENS), raw === undefined ? '—' : perToken(name, raw)];
      };
      const streamTable: Table = {
        caption: `A ${TOKENS.toLocaleString('en-US')}-token streamed answer from a loopback server, read to the end`,
        headers: ['contender', 'median / call', 'round medians', 'per token', 'wrapped − unwrapped'],
        rows: [row(names.anthropicRaw), row(names.anthropic, names.anthropicRaw), row(names.openaiRaw), row(names.openai, names.openaiRaw)],
      };
      return {
        name: 'traceable',
        description:
          'First, nested-3 (top → mid → leaf, async) built from `traceable` functions against the same built from `RunnableLambda`, one counting handler bound at the top with `withConfig` in both and inherited by the children; times are per top-level call. Then a streamed call of each SDK client against a loopback server sending 1,000 text deltas, read to the end inside a traced function with a synchronous token counter, wrapped and unwrapped; each contender is first verified to read 1,000 deltas and, when wrapped, to deliver 1,000 token events.',
        tables: [nestedTable, streamTable],
        targets: [
          {
            target: 'nested-3 of traceable functions, one handler: at most 1.1× nested-3 of RunnableLambda',
            observed: `${formatRatio(ratio)} (${formatDuration(traceTime.medianMs)} vs ${formatDuration(lambdaTime.medianMs)})`,
            pass: ratio <= 1.1,
          },
        ],
        notes: [
          'The stream times include the HTTP round trip, the SSE parsing of the SDK and the consumer loop; "wrapped − unwrapped" is the difference of the medians divided by 1,000, so on a noisy machine it can be of the order of the noise.',
        ],
      };
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
};
