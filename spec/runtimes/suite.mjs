/**
 * The runtime suite: one plain ES module, free of Node-only syntax, that runs against the BUILT package in
 * every runtime callscope supports besides Node (Bun, Deno, workerd with and without AsyncLocalStorage,
 * Chromium). The drivers in spec/runtimes/run.mjs load it there, hand it the callscope module the runtime
 * resolved, and read back one result per test.
 *
 * It covers: which propagation mode the runtime gets by default, propagation through every boundary of the
 * README's table that exists in the runtime (node: modules are loaded with a dynamic import; a module the
 * runtime lacks makes the boundary 'n/a', which is itself asserted against spec/runtimes/expected.json),
 * isolation of 200 concurrent runs, the seed example (examples/async-callbacks.ts on FakeChatModel),
 * 'explicit' mode (the failure, the fix, the diagnostics), streaming a model's tokens, run timeouts, and the
 * request scope of fetch-style handlers (`callscope/http` and `callscope/hono`) and the OpenAI SDK wrapper
 * (`callscope/openai`), resolved as the runtime resolves them: one copy of the core with `callscope`.
 */
import { z } from 'zod';

/**
 * @param {object} options
 * @param {Record<string, any>} options.callscope - the module `import 'callscope'` gave in this runtime.
 * @param {Record<string, any>} options.http - the module `import 'callscope/http'` gave in this runtime.
 * @param {{ runScope: Function, Hono: Function }} options.hono - `runScope` from `callscope/hono` and Hono's `Hono` class.
 * @param {{ wrapOpenAI: Function, OpenAI: Function }} options.openai - `wrapOpenAI` from `callscope/openai` and the `openai` SDK's client class.
 * @param {{ propagation: string, fileSystem: boolean, boundaries: Record<string, string> } | undefined} options.expected
 *   - this runtime's entry of spec/runtimes/expected.json (undefined when recording it for the first time).
 * @param {{ seed: string[], explicitTree: string[] }} options.node - what the examples print on Node.
 * @param {{ workerUrl?: string, callscopeUrl?: string, fileUrl?: string }} options.urls - files some cases need.
 * @returns {Promise<{ results: { name: string, ok: boolean, error?: string }[], boundaries: Record<string, string>, propagation: string }>}
 */
export async function runSuite({ callscope, http, hono, openai, expected, node, urls }) {
  const cs = callscope;
  const results = [];
  const test = async (name, body) => {
    try {
      await body();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({ name, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  };
  const assertEqual = (actual, wanted, what) => {
    const a = JSON.stringify(actual);
    const w = JSON.stringify(wanted);
    if (a !== w) throw new Error(`${what}: expected ${w}, got ${a}`);
  };

  const defaultMode = cs.getConfiguration().propagation;
  const implicit = defaultMode !== 'explicit';
  const restore = () => cs.configure({ propagation: defaultMode, onLostCallbacks: 'ignore' });

  await test('imports without throwing and picks the best propagation mode the runtime offers', () => {
    if (expected === undefined) throw new Error('no entry for this runtime in spec/runtimes/expected.json');
    assertEqual(defaultMode, expected.propagation, 'getConfiguration().propagation');
  });

  await test("configure({ propagation: 'async-local-storage' }) works where AsyncLocalStorage exists, else is a ConfigError naming what is missing", () => {
    let thrown;
    try {
      cs.configure({ propagation: 'async-local-storage' });
    } catch (error) {
      thrown = error;
    } finally {
      restore();
    }
    if (defaultMode === 'async-local-storage') {
      if (thrown !== undefined) throw thrown;
      return;
    }
    if (!(thrown instanceof cs.ConfigError)) throw new Error(`expected a ConfigError, got ${String(thrown)}`);
    assertEqual([thrown.name, thrown.field], ['ConfigError', 'propagation'], 'error name and field');
    if (!/no AsyncLocalStorage/.test(thrown.message)) throw new Error(`message does not say what is missing: ${thrown.message}`);
    assertEqual(cs.getConfiguration().propagation, defaultMode, 'propagation after the refused change');
  });

  // Boundaries.
  const boundaries = {};
  for (const boundary of boundaryCases(cs, urls)) {
    const cell = await observeBoundary(cs, boundary, implicit);
    boundaries[boundary.name] = cell;
    await test(`boundary: ${boundary.name}`, () => {
      assertEqual(cell, expected?.boundaries[boundary.name], 'outcome');
    });
  }

  await test('keeps 200 concurrent runs apart', async () => {
    const child = cs.RunnableLambda.from(async (x) => x * 2, { name: 'child' });
    const parent = cs.RunnableLambda.from(async (x, config) => {
      await new Promise((resolve) => setTimeout(resolve, x % 3));
      await Promise.resolve();
      // Where nothing is implicit, passing config is the documented way (and what the suite checks).
      return implicit ? child.invoke(x) : child.invoke(x, config);
    }, { name: 'parent' });
    const collectors = Array.from({ length: 200 }, () => new cs.RunCollector());
    const outputs = await Promise.all(collectors.map((collector, i) => parent.invoke(i, { callbacks: [collector], tags: [`run-${i}`] })));
    assertEqual(outputs, collectors.map((_, i) => i * 2), 'outputs');
    collectors.forEach((collector, i) => {
      assertEqual(collector.runs.length, 1, `roots seen by collector ${i}`);
      const [root] = collector.runs;
      assertEqual(root.children.map((run) => [run.name, run.parentRunId === root.id, run.tags]), [['child', true, [`run-${i}`]]], `tree of run ${i}`);
    });
  });

  await test('runs the seed example (examples/async-callbacks.ts on FakeChatModel) and prints the same as on Node', async () => {
    const lines = [];
    const output = { write: (chunk) => { lines.push(...String(chunk).replace(/\n$/, '').split('\n')); return true; } };
    class MyCustomSyncHandler extends cs.BaseCallbackHandler {
      handleLLMNewToken(token) {
        lines.push(...`Sync handler called synchronously: token: ${token}`.split('\n'));
      }
    }
    class MyCustomAsyncHandler extends cs.AsyncCallbackHandler {
      async handleLLMStart() {
        lines.push('zzzz....');
        await new Promise((resolve) => setTimeout(resolve, 1));
        lines.push('Hi! I just woke up. Your llm is starting');
      }
      async handleLLMEnd() {
        lines.push('zzzz....');
        await new Promise((resolve) => setTimeout(resolve, 1));
        lines.push('Hi! I just woke up. Your llm is ending');
      }
    }
    lines.push('Model: FakeChatModel (embedded, offline)');
    const chat = new cs.FakeChatModel({
      responses: ["Why don't scientists trust atoms?\n\nBecause they make up everything!"],
      streaming: true,
      callbacks: [new MyCustomSyncHandler(), new MyCustomAsyncHandler()],
    });
    const result = await chat.invoke('Tell me a joke', { callbacks: [new cs.ConsoleTracer({ timings: false, stream: output })] });
    lines.push(`Result: ${JSON.stringify({ role: result.role, content: result.content })}`);
    assertEqual(lines.map((line) => line.trimEnd()), node.seed, 'printed lines');
  });

  const model = new cs.FakeChatModel({ responses: ['Paris is the capital of France.'] });
  const answer = cs.RunnableLambda.from(async (question) => (await model.invoke(question)).content, { name: 'answer' });
  const lookup = cs.tool(async ({ question }) => answer.invoke(question), {
    name: 'lookup',
    description: 'Answers a question about geography',
    schema: z.object({ question: z.string() }),
  });
  const answerFixed = cs.RunnableLambda.from(async (question, config) => (await model.invoke(question, config)).content, { name: 'answer' });
  const lookupFixed = cs.tool(async ({ question }, config) => answerFixed.invoke(question, config), {
    name: 'lookup',
    description: 'Answers a question about geography',
    schema: z.object({ question: z.string() }),
  });
  const question = { question: 'What is the capital of France?' };
  const render = (run, depth = 0) => [`${'  '.repeat(depth)}${run.type} ${run.name}`, ...run.children.flatMap((child) => render(child, depth + 1))];

  await test("'explicit' mode: a runnable invoked without config is lost, passing config restores the tree (as examples/propagation-bug.ts prints)", async () => {
    cs.configure({ propagation: 'explicit' });
    try {
      const lost = new cs.RunCollector();
      await lookup.invoke(question, { callbacks: [lost] });
      assertEqual(lost.runs.flatMap((run) => render(run)), ['tool lookup'], 'tree without config');
      const fixed = new cs.RunCollector();
      await lookupFixed.invoke(question, { callbacks: [fixed] });
      assertEqual(fixed.runs.flatMap((run) => render(run)), ['tool lookup', '  chain answer', '    llm FakeChatModel'], 'tree with config');
      const lines = [];
      const output = { write: (chunk) => { lines.push(...String(chunk).replace(/\n$/, '').split('\n')); return true; } };
      await lookupFixed.invoke(question, { callbacks: [new cs.ConsoleTracer({ timings: false, stream: output })] });
      assertEqual(lines.map((line) => line.trimEnd()), node.explicitTree, 'ConsoleTracer tree of the fixed pipeline');
    } finally {
      restore();
    }
  });

  await test("'explicit' mode diagnostics: onLostCallbacks 'throw' rejects with LostCallbacksError naming the child and the fix", async () => {
    cs.configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
    try {
      let thrown;
      await lookup.invoke(question, { callbacks: [new cs.RunCollector()] }).catch((error) => {
        thrown = error;
      });
      if (!(thrown instanceof cs.LostCallbacksError)) throw new Error(`expected a LostCallbacksError, got ${String(thrown)}`);
      assertEqual([thrown.name, thrown.childName, thrown.parentName], ['LostCallbacksError', 'answer', 'lookup'], 'error fields');
      if (!thrown.message.includes('answer.invoke(input, config)')) throw new Error(`message names no fix: ${thrown.message}`);
      // Passing config on is the fix: no error, the whole tree.
      const fixed = new cs.RunCollector();
      await lookupFixed.invoke(question, { callbacks: [fixed] });
      assertEqual(fixed.allRuns().length, 3, 'runs of the fixed pipeline');
    } finally {
      restore();
    }
  });

  await test("'explicit' mode diagnostics: onLostCallbacks 'warn' reports CALLSCOPE_LOST_CALLBACKS once", async () => {
    const seen = [];
    const processLike = globalThis.process;
    const hasWarnings = typeof processLike?.on === 'function' && typeof processLike?.emitWarning === 'function';
    const onWarning = (warning) => seen.push(`${warning.code}: ${warning.message}`);
    const originalWarn = console.warn;
    if (hasWarnings) processLike.on('warning', onWarning);
    else console.warn = (...args) => seen.push(args.join(' '));
    cs.configure({ propagation: 'explicit', onLostCallbacks: 'warn' });
    try {
      await lookup.invoke(question, { callbacks: [new cs.RunCollector()] });
      // process.emitWarning delivers on a later tick.
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (seen.length !== 1 || !seen[0].includes('CALLSCOPE_LOST_CALLBACKS') || !seen[0].includes('Runnable `answer` was invoked without `config` inside run `lookup`')) {
        throw new Error(`warnings: ${JSON.stringify(seen)}`);
      }
    } finally {
      restore();
      if (hasWarnings) processLike.off('warning', onWarning);
      else console.warn = originalWarn;
    }
  });

  await test("streams a model's tokens to the handlers of the run it streams in", async () => {
    const streaming = new cs.FakeChatModel({ responses: ['one two three'] });
    const parent = cs.RunnableLambda.from(async (input, config) => {
      const chunks = [];
      for await (const chunk of implicit ? streaming.stream(input) : streaming.stream(input, config)) chunks.push(chunk.content);
      return chunks;
    }, { name: 'parent' });
    const collector = new cs.RunCollector();
    const chunks = await parent.invoke('count', { callbacks: [collector] });
    assertEqual(chunks, ['one', ' two', ' three'], 'streamed chunks');
    const [root] = collector.runs;
    assertEqual(root.children.map((run) => [run.type, run.parentRunId === root.id, run.tokens]), [['llm', true, ['one', ' two', ' three']]], 'model run');
  });

  await test('streamEvents through toEventStreamResponse: a traceable function calling a streaming model sends its v2 events as server-sent events', async () => {
    const model = new cs.FakeChatModel({ responses: ['one two'] });
    // Where nothing carries context ('explicit' mode) the chain's config is given on, as the README says:
    // `withConfig` to the traceable function, the argument to the model (which then sits beside it, not in it).
    const answer = cs.traceable(async (question, config) => (await (implicit ? model.invoke(question) : model.invoke(question, config))).content, { name: 'answer' });
    const chain = cs.RunnableLambda.from((question, config) => (implicit ? answer(question) : answer.withConfig(config)(question, config)), { name: 'chain' });
    const response = cs.toEventStreamResponse(chain.streamEvents('hi', { version: 'v2' }));
    assertEqual([response.status, response.headers.get('content-type')?.split(';')[0]], [200, 'text/event-stream'], 'the response');
    const events = (await response.text())
      .split('\n\n')
      .filter((block) => block.includes('data: '))
      .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 'data: '.length)))
      .filter((event) => typeof event.event === 'string');
    const names = events.map((event) => `${event.event}:${event.name}`);
    // The function's run and the model's are in the stream in every mode: the config reaches them either way.
    for (const expectedName of ['on_chain_start:chain', 'on_chain_start:answer', 'on_chat_model_start:FakeChatModel', 'on_chat_model_stream:FakeChatModel', 'on_chat_model_end:FakeChatModel', 'on_chain_end:answer', 'on_chain_end:chain']) {
      if (!names.includes(expectedName)) throw new Error(`no ${expectedName} event among ${JSON.stringify(names)}`);
    }
    const tokens = events.filter((event) => event.event === 'on_chat_model_stream').map((event) => event.data.chunk.content ?? event.data.chunk.kwargs?.content);
    assertEqual(tokens, ['one', ' two'], 'streamed tokens');
    const runIdOf = (name) => events.find((event) => event.event === 'on_chain_start' && event.name === name)?.run_id;
    const modelStart = events.find((event) => event.event === 'on_chat_model_start');
    const answerStart = events.find((event) => event.event === 'on_chain_start' && event.name === 'answer');
    assertEqual(answerStart.parent_ids, [runIdOf('chain')], 'the traceable run\'s ancestors');
    assertEqual(modelStart.parent_ids, implicit ? [runIdOf('chain'), runIdOf('answer')] : [runIdOf('chain')], 'the model run\'s ancestors');
  });

  await test("a run's `timeout` ends it with RunTimeoutError, and a run that finishes in time is not held by its deadline", async () => {
    const slow = cs.RunnableLambda.from(() => new Promise((resolve) => setTimeout(() => resolve('late'), 200)), { name: 'slow' });
    let thrown;
    try {
      await slow.invoke(undefined, { timeout: 20 });
    } catch (error) {
      thrown = error;
    }
    if (!(thrown instanceof cs.RunTimeoutError) || thrown.timeoutMs !== 20) throw new Error(`expected a RunTimeoutError after 20 ms, got ${String(thrown)}`);
    const quick = cs.RunnableLambda.from((x) => x * 2, { name: 'quick' });
    assertEqual(await quick.invoke(21, { timeout: 60_000 }), 42, 'output of a run that ended before its deadline');
  });

  await test('withRunScopeFetch (callscope/http): one root run per request, the runs of its handler and of its streamed body nested under it, waitUntil given its end, the caller\'s run continued from its headers', async () => {
    if (http === undefined) throw new Error('the driver did not load callscope/http');
    const collector = new cs.RunCollector();
    const shout = cs.RunnableLambda.from((text) => text.toUpperCase(), { name: 'shout' });
    // Without implicit context the handler cannot reach its run: in 'explicit' mode the runs below are roots.
    const pending = [];
    const handler = http.withRunScopeFetch(
      async (request) => {
        const word = await shout.invoke(new URL(request.url).searchParams.get('word'));
        const encoder = new TextEncoder();
        let sent = false;
        return new Response(
          new ReadableStream({
            async pull(controller) {
              if (sent) return controller.close();
              sent = true;
              controller.enqueue(encoder.encode(`${word} ${await shout.invoke('again')}`));
            },
          }),
          { status: 201 },
        );
      },
      { handlers: () => [collector], waitUntil: (done) => pending.push(done) },
    );
    const response = await handler(new Request('http://127.0.0.1/chat?word=hi', { method: 'POST' }));
    assertEqual([response.status, await response.text()], [201, 'HI AGAIN'], 'the response');
    assertEqual(pending.length, 1, 'promises given to waitUntil');
    await pending[0];
    const request = collector.runs.find((run) => run.name === 'POST /chat');
    if (request === undefined) throw new Error(`no run named 'POST /chat' among ${JSON.stringify(collector.runs.map((run) => run.name))}`);
    assertEqual([request.type, request.parentRunId, request.inputs, request.outputs], ['chain', undefined, { method: 'POST', url: '/chat?word=hi' }, { status: 201 }], 'the request run');
    const nested = request.children.map((run) => [run.name, run.outputs]);
    assertEqual(nested, implicit ? [['shout', { output: 'HI' }], ['shout', { output: 'AGAIN' }]] : [], 'runs nested under the request run');
    // In 'explicit' mode the shouts are roots without handlers: the collector sees the request run alone.
    assertEqual(collector.runs.length, 1, 'root runs the collector saw');

    // propagate: the caller's run (a callscope run in another process, named in baggage) is the request run's parent.
    const continued = new cs.RunCollector();
    const callerRun = '0190b2c4-5d6e-7f80-8a9b-0c1d2e3f4a5b';
    const next = http.withRunScopeFetch(async () => new Response('ok'), { handlers: () => [continued], propagate: true });
    const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', baggage: `callscope.run_id=${callerRun}` };
    assertEqual(await (await next(new Request('http://127.0.0.1/next', { headers }))).text(), 'ok', 'the continued response');
    assertEqual(continued.runs.map((run) => [run.name, run.parentRunId, run.parentIsRemote]), [['GET /next', callerRun, true]], 'the continued request run');
  });

  await test("Hono's app with runScope (callscope/hono): one root run per request, the route's runs nested under it, a route error passed on to Hono unchanged", async () => {
    if (hono === undefined) throw new Error('the driver did not load callscope/hono and hono');
    const collector = new cs.RunCollector();
    const shout = cs.RunnableLambda.from((text) => text.toUpperCase(), { name: 'shout' });
    const app = new hono.Hono();
    app.use('*', hono.runScope({ handlers: () => [collector] }));
    app.get('/shout/:word', async (c) => c.text(await shout.invoke(c.req.param('word'))));
    app.get('/fail', () => {
      throw new Error('route failed');
    });
    let seenByHono;
    app.onError((error, c) => {
      seenByHono = error;
      return c.text('sorry', 500);
    });
    const ok = await app.fetch(new Request('http://127.0.0.1/shout/hi'));
    assertEqual([ok.status, await ok.text()], [200, 'HI'], 'the response');
    const failed = await app.fetch(new Request('http://127.0.0.1/fail'));
    assertEqual([failed.status, await failed.text(), seenByHono?.message], [500, 'sorry', 'route failed'], 'the failed response');
    await cs.awaitAllCallbacks();
    const byName = Object.fromEntries(collector.runs.map((run) => [run.name, run]));
    const shoutRun = byName['GET /shout/hi'];
    if (shoutRun === undefined) throw new Error(`no run named 'GET /shout/hi' among ${JSON.stringify(Object.keys(byName))}`);
    assertEqual([shoutRun.outputs, shoutRun.children.map((run) => run.name)], [{ status: 200 }, implicit ? ['shout'] : []], 'the request run and the runs nested under it');
    const failRun = byName['GET /fail'];
    assertEqual(failRun?.error instanceof Error ? failRun.error.message : failRun?.error, 'route failed', 'the error the failed request run ended with');
  });

  await test('wrapOpenAI (callscope/openai) on the openai SDK: a chat completion, plain and streamed, is a model run nested in the run that made it', async () => {
    if (openai === undefined) throw new Error('the driver did not load callscope/openai and openai');
    const base = { id: 'chatcmpl-1', created: 1, model: 'gpt-test-1' };
    const completion = {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    };
    const chunk = (delta, finish) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
    const events = [chunk({ role: 'assistant', content: 'Hi' }, null), chunk({ content: ' there' }, null), chunk({}, 'stop')];
    // The SDK's own HTTP layer, answered here: no network, whatever the runtime.
    const fetch = async (_url, init) =>
      JSON.parse(init.body).stream === true
        ? new Response(`${events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('')}data: [DONE]\n\n`, { headers: { 'content-type': 'text/event-stream' } })
        : Response.json(completion);
    const client = openai.wrapOpenAI(new openai.OpenAI({ apiKey: 'test-key', baseURL: 'http://127.0.0.1:9/v1', fetch, maxRetries: 0, dangerouslyAllowBrowser: true }));
    const messages = [{ role: 'user', content: 'Hello?' }];
    const collector = new cs.RunCollector();
    const app = cs.RunnableLambda.from(async () => {
      const plain = await client.chat.completions.create({ model: 'gpt-test-1', messages });
      let streamed = '';
      for await (const event of await client.chat.completions.create({ model: 'gpt-test-1', messages, stream: true })) streamed += event.choices[0]?.delta?.content ?? '';
      return [plain.choices[0].message.content, streamed];
    }, { name: 'app' });
    assertEqual(await app.invoke(undefined, { callbacks: [collector] }), ['Hi there', 'Hi there'], 'what the SDK returned');
    const [root] = collector.runs;
    // Without implicit context the SDK calls cannot reach the run they are made in: in 'explicit' mode they are roots.
    const models = root.children.map((run) => [run.type, run.name, run.tokens]);
    assertEqual(models, implicit ? [['llm', 'ChatOpenAI', []], ['llm', 'ChatOpenAI', ['Hi', ' there']]] : [], 'model runs nested under the app run');
  });

  if (expected?.fileSystem === false) {
    await test('JsonlTracer refuses a file path with a ConfigError where there is no file system, and writes to a stream', async () => {
      let thrown;
      try {
        new cs.JsonlTracer('runs.jsonl');
      } catch (error) {
        thrown = error;
      }
      if (!(thrown instanceof cs.ConfigError) || thrown.field !== 'pathOrStream' || !thrown.message.includes('writable stream')) {
        throw new Error(`expected a ConfigError on pathOrStream, got ${String(thrown)}`);
      }
      const written = [];
      const stream = { write: (line, callback) => { written.push(line); callback?.(); return true; }, on: () => stream, once: () => stream, removeListener: () => stream };
      const tracer = new cs.JsonlTracer(stream);
      await cs.RunnableLambda.from((x) => x, { name: 'one' }).invoke(1, { callbacks: [tracer] });
      await tracer.close();
      assertEqual(written.map((line) => JSON.parse(line).name), ['one'], 'lines written');
    });
  }

  return { results, boundaries, propagation: defaultMode };
}

/** Runs a parent whose body reaches a child across the boundary; returns the table cell for what happened. */
async function observeBoundary(cs, boundary, implicit) {
  let modules;
  try {
    modules = await Promise.all((boundary.modules ?? []).map((specifier) => import(specifier)));
  } catch {
    return 'n/a';
  }
  if (boundary.available !== undefined && !boundary.available()) return 'n/a';
  const plain = await probe(cs, boundary, modules, false);
  if (plain === 'kept') return 'kept';
  const remedied = await probe(cs, boundary, modules, true);
  if (remedied !== 'kept') return 'lost';
  const fix = boundary.remedy === 'the run id sent to the worker' || implicit ? boundary.remedy : 'passing `config`';
  return `lost; kept with ${fix}`;
}

async function probe(cs, boundary, modules, remedy) {
  const state = { later: undefined, remoteParent: null };
  await boundary.setup?.(modules);
  const collector = new cs.RunCollector();
  const child = cs.RunnableLambda.from((x) => x, { name: 'child' });
  const implicit = cs.getConfiguration().propagation !== 'explicit';
  const parent = cs.RunnableLambda.from(async (_, config) => {
    state.later = await boundary.inside({
      config,
      remedy,
      modules,
      bindIf: (fn) => (remedy && implicit ? cs.bindToCurrentContext(fn) : fn),
      invokeChild: () => (remedy && !implicit ? child.invoke(1, config) : child.invoke(1)),
      recordRemoteChild: (parentRunId) => {
        state.remoteParent = parentRunId;
      },
    });
  }, { name: 'parent' });
  await parent.invoke(undefined, { callbacks: [collector] });
  if (typeof state.later === 'function') await state.later();
  const parentRun = collector.runs.find((run) => run.name === 'parent');
  if (state.remoteParent !== null) return state.remoteParent === parentRun.id ? 'kept' : 'lost';
  return parentRun.children.some((run) => run.name === 'child' && run.parentRunId === parentRun.id) ? 'kept' : 'lost';
}

/** The boundaries of the README's table (same names), written against what each runtime may or may not have. */
function boundaryCases(cs, urls) {
  const shared = {};
  return [
    {
      name: '`await` of a native promise',
      inside: async ({ invokeChild }) => {
        await Promise.resolve();
        await invokeChild();
      },
    },
    { name: '`Promise.all`', inside: async ({ invokeChild }) => { await Promise.all([Promise.resolve().then(invokeChild)]); } },
    { name: '`Promise.race`', inside: async ({ invokeChild }) => { await Promise.race([Promise.resolve().then(invokeChild), new Promise(() => undefined)]); } },
    { name: '`Promise.allSettled`', inside: async ({ invokeChild }) => { await Promise.allSettled([Promise.resolve().then(invokeChild)]); } },
    { name: '`setTimeout`', inside: ({ invokeChild }) => new Promise((resolve) => setTimeout(() => resolve(invokeChild().then(() => undefined)), 1)) },
    {
      name: '`setInterval`',
      inside: ({ invokeChild }) =>
        new Promise((resolve) => {
          const timer = setInterval(() => {
            clearInterval(timer);
            resolve(invokeChild().then(() => undefined));
          }, 1);
        }),
    },
    {
      name: '`setImmediate`',
      available: () => typeof globalThis.setImmediate === 'function',
      inside: ({ invokeChild }) => new Promise((resolve) => globalThis.setImmediate(() => resolve(invokeChild().then(() => undefined)))),
    },
    {
      name: '`process.nextTick`',
      available: () => typeof globalThis.process?.nextTick === 'function',
      inside: ({ invokeChild }) => new Promise((resolve) => globalThis.process.nextTick(() => resolve(invokeChild().then(() => undefined)))),
    },
    { name: '`queueMicrotask`', inside: ({ invokeChild }) => new Promise((resolve) => queueMicrotask(() => resolve(invokeChild().then(() => undefined)))) },
    {
      name: 'custom thenable awaited in the run',
      inside: async ({ invokeChild }) => {
        await { then: (resolve) => resolve(invokeChild()) };
      },
    },
    {
      name: 'async generator created in the run, consumed by `for await` outside it',
      remedy: '`bindToCurrentContext`',
      inside: async ({ invokeChild, bindIf }) => {
        async function* steps() {
          yield await invokeChild();
        }
        const iterator = steps();
        const next = bindIf(() => iterator.next());
        return async () => {
          for (let step = await next(); step.done !== true; step = await next());
        };
      },
    },
    {
      name: '`EventEmitter` listener added outside the run, emitted in it',
      modules: ['node:events'],
      setup: ([events]) => {
        shared.emitter = new events.EventEmitter();
      },
      inside: async ({ invokeChild }) => {
        const done = new Promise((resolve) => shared.emitter.once('work', () => resolve(invokeChild())));
        shared.emitter.emit('work');
        await done;
      },
    },
    {
      name: '`EventEmitter` listener added in the run, emitted later outside it',
      modules: ['node:events'],
      remedy: '`bindEmitter`',
      inside: async ({ invokeChild, remedy, modules: [events] }) => {
        const implicit = cs.getConfiguration().propagation !== 'explicit';
        const emitter = remedy && implicit ? cs.bindEmitter(new events.EventEmitter()) : new events.EventEmitter();
        let finished = Promise.resolve();
        emitter.on('later', () => {
          finished = invokeChild();
        });
        return async () => {
          emitter.emit('later');
          await finished;
        };
      },
    },
    {
      name: 'stream `pipeline` from `Readable.from` through a `Transform`, run in the run',
      modules: ['node:stream'],
      inside: ({ invokeChild, modules: [stream] }) =>
        new Promise((resolve, reject) => {
          const transform = new stream.Transform({
            objectMode: true,
            transform(chunk, _encoding, callback) {
              invokeChild().then(() => callback(null, chunk), callback);
            },
          });
          const sink = new stream.Writable({ objectMode: true, write: (_chunk, _encoding, callback) => callback() });
          stream.pipeline(stream.Readable.from(['a']), transform, sink, (error) => (error ? reject(error) : resolve()));
        }),
    },
    {
      name: '`Transform` created in the run, written to later outside it',
      modules: ['node:stream'],
      remedy: '`bindToCurrentContext`',
      inside: async ({ invokeChild, bindIf, modules: [stream] }) => {
        let finished = Promise.resolve();
        const onChunk = bindIf(() => {
          finished = invokeChild();
        });
        const transform = new stream.Transform({
          objectMode: true,
          transform(chunk, _encoding, callback) {
            onChunk();
            callback(null, chunk);
          },
        });
        transform.resume();
        return async () => {
          await new Promise((resolve) => transform.write('late', resolve));
          await finished;
        };
      },
    },
    {
      name: '`fs.readFile` callback',
      modules: ['node:fs', 'node:url'],
      available: () => urls.fileUrl !== undefined,
      inside: ({ invokeChild, modules: [fs, url] }) =>
        new Promise((resolve, reject) =>
          fs.readFile(url.fileURLToPath(urls.fileUrl), (error) => (error ? reject(error) : resolve(invokeChild().then(() => undefined)))),
        ),
    },
    {
      name: '`dns.lookup` callback',
      modules: ['node:dns'],
      inside: ({ invokeChild, modules: [dns] }) =>
        new Promise((resolve, reject) => dns.lookup('localhost', (error) => (error ? reject(error) : resolve(invokeChild().then(() => undefined))))),
    },
    {
      name: 'callback queued on a pool created outside any run, released by another run',
      remedy: '`bindToCurrentContext`',
      setup: () => {
        shared.pool = new CallbackPool();
        let letGo = () => undefined;
        const gate = new Promise((resolve) => {
          letGo = resolve;
        });
        shared.releaseHolder = letGo;
        const holder = cs.RunnableLambda.from(async () => {
          const release = await new Promise((resolve) => shared.pool.acquire(resolve));
          await gate;
          release();
        }, { name: 'holder' });
        shared.holding = holder.invoke(undefined);
      },
      inside: async ({ invokeChild, bindIf }) => {
        const done = new Promise((resolve) => {
          shared.pool.acquire(bindIf((release) => resolve(invokeChild().finally(release))));
        });
        shared.releaseHolder();
        await shared.holding;
        await done;
      },
    },
    {
      name: '`AbortSignal` listener added in the run, aborted outside it',
      remedy: '`bindToCurrentContext`',
      inside: async ({ invokeChild, bindIf }) => {
        const controller = new AbortController();
        let finished = Promise.resolve();
        controller.signal.addEventListener('abort', bindIf(() => {
          finished = invokeChild();
        }), { once: true });
        return async () => {
          controller.abort();
          await finished;
        };
      },
    },
    {
      name: '`worker_threads` worker started in the run',
      modules: ['node:worker_threads'],
      remedy: 'the run id sent to the worker',
      available: () => urls.workerUrl !== undefined,
      inside: async ({ config, remedy, recordRemoteChild, modules: [threads] }) => {
        const parentRunId = config.callbacks.parentRunId;
        const worker = new threads.Worker(new URL(urls.workerUrl), {
          workerData: { callscopeUrl: urls.callscopeUrl, parentRunId: remedy ? parentRunId : undefined },
        });
        const reported = await new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
        await worker.terminate();
        if (reported.sawConfig) throw new Error('a worker saw the run config through context');
        recordRemoteChild(reported.parentRunId);
      },
    },
  ];
}

/** A resource pool created outside any run: a waiting acquirer's callback runs when the holder releases. */
class CallbackPool {
  busy = false;
  waiting = [];

  acquire(callback) {
    if (!this.busy) {
      this.busy = true;
      callback(() => this.release());
    } else {
      this.waiting.push(callback);
    }
  }

  release() {
    const next = this.waiting.shift();
    if (next === undefined) this.busy = false;
    else next(() => this.release());
  }
}
