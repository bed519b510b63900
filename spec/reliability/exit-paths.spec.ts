import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * How queued background events fare on each way a process can end. Each case runs in a child process: 50
 * events are queued for a synchronous handler (`SyncTracer`) and an asynchronous one (`SlowTracer`), then the
 * process ends. Nothing may be lost silently: synchronous handlers get their events even at `exit`, and what
 * asynchronous ones could not get is named in one warning on stderr.
 */

const root = path.resolve(__dirname, '../..');

function runChild(body: string) {
  return spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', `const cs = require('./lib'); ${body}`], {
    cwd: root,
    encoding: 'utf8',
    timeout: 20_000,
  });
}

// Queues 50 handleChainStart events per handler synchronously, then runs `end` (still synchronously).
const queueFifty = (end: string, configure = "{ callbacks: 'background' }") => `
  cs.configure(${configure});
  const seen = { sync: 0, slow: 0 };
  const sync = { name: 'SyncTracer', handleChainStart() { seen.sync++; } };
  const slow = { name: 'SlowTracer', async handleChainStart() { await new Promise((r) => setTimeout(r, 1)); seen.slow++; } };
  const echo = cs.RunnableLambda.from((x) => x, { name: 'echo' });
  for (let i = 0; i < 50; i++) echo.invoke(i, { callbacks: [sync, slow] }).catch(() => {});
  // Registered after callscope's own exit hook (installed at the first queued event), so it sees its work.
  process.on('exit', (code) => console.log(JSON.stringify({ code, ...seen })));
  ${end}
`;

function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('[callscope]'));
}

describe('process exit paths with queued background events', () => {
  it.each([
    ['process.exit()', 'process.exit(3);', 3, '(code 3)'],
    ['an uncaught exception', "throw new Error('crash');", 1, '(code 1 after an uncaught exception)'],
    ['an unhandled rejection', "Promise.reject(new Error('crash'));", 1, '(code 1 after an unhandled rejection)'],
  ])('on %s, synchronous handlers still get their events and one warning names what was lost', (_path, end, code, cause) => {
    const child = runChild(queueFifty(end));

    expect(child.status).toBe(code);
    const seen = JSON.parse(child.stdout.trim()) as { sync: number; slow: number };
    expect(seen.sync).toBe(50);
    const lines = warnings(child.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${50 - seen.slow} background handler events were lost`);
    expect(lines[0]).toContain(`${50 - seen.slow} of \`SlowTracer\``);
    expect(lines[0]).not.toContain('SyncTracer');
    expect(lines[0]).toContain('awaitAllCallbacks()');
    expect(lines[0]).toContain('shutdownSignals');
    expect(lines[0]).toContain(`the process exited ${cause}`);
  });

  it("with configure({ shutdownSignals: ['SIGTERM'] }), delivers everything on SIGTERM, then exits with 128 + 15", () => {
    const child = runChild(queueFifty("process.kill(process.pid, 'SIGTERM');", "{ callbacks: 'background', shutdownSignals: ['SIGTERM', 'SIGINT'] }"));

    expect(child.signal).toBeNull();
    expect(child.status).toBe(143);
    expect(JSON.parse(child.stdout.trim())).toEqual({ code: 143, sync: 50, slow: 50 });
    expect(child.stderr).toBe('');
  });

  it('with shutdownSignals, exits with 128 + 2 on SIGINT', () => {
    const child = runChild(queueFifty("process.kill(process.pid, 'SIGINT');", "{ callbacks: 'background', shutdownSignals: ['SIGINT'] }"));
    expect(child.status).toBe(130);
    expect(JSON.parse(child.stdout.trim())).toEqual({ code: 130, sync: 50, slow: 50 });
  });

  it('with shutdownSignals, stops waiting after shutdownTimeoutMs and names what was lost', () => {
    const child = runChild(`
      cs.configure({ callbacks: 'background', shutdownSignals: ['SIGTERM'], shutdownTimeoutMs: 50 });
      const stuck = { name: 'StuckTracer', handleChainStart: () => new Promise(() => {}) };
      const echo = cs.RunnableLambda.from((x) => x);
      for (let i = 0; i < 5; i++) echo.invoke(i, { callbacks: [stuck] });
      process.kill(process.pid, 'SIGTERM');
    `);

    expect(child.status).toBe(143);
    const lines = warnings(child.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('5 of `StuckTracer`');
  });

  it('with shutdownSignals and a listener of your own, delivers and leaves ending the process to you', () => {
    const child = runChild(
      queueFifty(
        "process.on('SIGTERM', () => cs.awaitAllCallbacks().then(() => process.exit(0))); process.kill(process.pid, 'SIGTERM');",
        "{ callbacks: 'background', shutdownSignals: ['SIGTERM'] }",
      ),
    );
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout.trim())).toEqual({ code: 0, sync: 50, slow: 50 });
  });

  it('without shutdownSignals, SIGTERM ends the process at once and no JavaScript runs (Node’s default)', () => {
    const child = runChild(queueFifty("process.kill(process.pid, 'SIGTERM');"));
    expect(child.signal).toBe('SIGTERM');
    expect(child.stdout).toBe('');
  });

  it('on a normal exit, delivers everything and prints nothing', () => {
    const child = runChild(queueFifty(''));
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout.trim())).toEqual({ code: 0, sync: 50, slow: 50 });
    expect(child.stderr).toBe('');
  });
});
