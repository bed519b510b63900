import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeChatModel, type ChatModelInput } from '../lib';

/** The README says what the code does: its examples are the examples' code, its tables list what exists. */

const root = join(__dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README has no "${heading}" heading`);
  const level = heading.split(' ')[0] as string;
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n${level} `));
  return end === -1 ? rest : rest.slice(0, end);
}

describe('README', () => {
  it('shows in "Quick start" exactly the code of examples/quick-start.ts', () => {
    const block = /```ts\n([\s\S]*?)```/.exec(section('## Quick start'))?.[1];
    const example = readFileSync(join(root, 'examples/quick-start.ts'), 'utf8');
    const code = example.slice(example.indexOf('*/\n') + 3, example.lastIndexOf('\n// Prints:'));
    expect(block?.replace("from 'callscope'", "from '../lib'").trim()).toBe(code.trim());
  });

  it('lists every error code in the Errors table', () => {
    const union = /export type CallscopeErrorCode =([\s\S]*?);/.exec(readFileSync(join(root, 'lib/errors.ts'), 'utf8'))?.[1] ?? '';
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((match) => match[1]);
    expect(codes.length).toBeGreaterThan(10);
    const table = section('### Errors');
    for (const code of codes) expect(table).toContain(`\`${code}\``);
  });

  // spec/examples.spec.ts runs it with CONSOLE_SPANS=0 and checks that only the stable tree is printed.
  it('says that examples/opentelemetry.ts prints spans through ConsoleSpanExporter unless CONSOLE_SPANS=0', () => {
    const env = { ...process.env };
    delete env.CONSOLE_SPANS;
    const { stdout } = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), ['examples/opentelemetry.ts'], { cwd: root, env, encoding: 'utf8' });
    // ConsoleSpanExporter prints each span as an object with its traceId.
    expect(stdout).toContain('traceId:');
    expect(section('## OpenTelemetry')).toContain('(`CONSOLE_SPANS=0` leaves those out)');
  }, 30_000);
});

describe('FakeChatModel', () => {
  it('lists every role it accepts, `user` and `assistant` included, when a message has another', async () => {
    const model = new FakeChatModel({ responses: ['ok'] });
    await expect(model.invoke([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }])).resolves.toEqual({ role: 'ai', content: 'ok' });
    await expect(model.invoke([{ role: 'robot', content: 'x' }] as unknown as ChatModelInput)).rejects.toThrow(
      "Expected `input[0]` to be a message { role: 'system' | 'human' | 'ai' | 'tool' | 'user' | 'assistant', content: string }",
    );
  });
});
