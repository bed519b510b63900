import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { LoopbackLangSmith } from './loopback-langsmith';

const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const fixture = join(__dirname, 'fixtures', 'env-tracing.ts');

interface FixtureOutput {
  output: string;
  langchainLoaded: boolean;
  langsmithLoaded: boolean;
}

// The fixture runs in a child process: the variables are read once per process, at its first root run.
function runFixture(env: Record<string, string>): Promise<FixtureOutput> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(LANGSMITH|LANGCHAIN)_/.test(name)));
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [fixture], { cwd: root, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`fixture exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as FixtureOutput);
    });
  });
}

describe('LANGSMITH_TRACING', () => {
  const api = new LoopbackLangSmith();
  let apiUrl: string;

  beforeAll(async () => {
    apiUrl = await api.start();
  });

  afterAll(async () => {
    await api.stop();
  });

  beforeEach(() => {
    api.runs.clear();
  });

  it.each(['LANGSMITH_TRACING', 'LANGCHAIN_TRACING_V2'])('%s=true traces callscope runs to LangSmith with no code change', async (variable) => {
    const result = await runFixture({ [variable]: 'true', LANGSMITH_ENDPOINT: apiUrl, LANGSMITH_API_KEY: 'loopback-key' });

    expect(result.output).toBe('HELLO');
    const runs = [...api.runs.values()];
    const outer = runs.find((run) => run.name === 'outer');
    const inner = runs.find((run) => run.name === 'inner');
    expect(outer).toMatchObject({ run_type: 'chain', inputs: { input: 'hello' }, outputs: { output: 'HELLO' } });
    expect(inner).toMatchObject({ run_type: 'chain', parent_run_id: outer?.id, inputs: { input: 'hello' }, outputs: { output: 'HELLO' } });
    expect(inner?.dotted_order.startsWith(`${outer?.dotted_order}.`)).toBe(true);
  });

  it('is off unless set, and then loads neither @langchain/core nor langsmith', async () => {
    const result = await runFixture({ LANGSMITH_ENDPOINT: apiUrl, LANGSMITH_API_KEY: 'loopback-key' });

    expect(result).toEqual({ output: 'HELLO', langchainLoaded: false, langsmithLoaded: false });
    expect(api.runs.size).toBe(0);
  });
});
