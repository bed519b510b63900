import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Every example runs as a child process, as a user would run it, and must print exactly what the comment
// block at its end shows. New examples are picked up automatically.
const root = join(__dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const examples = readdirSync(join(root, 'examples'))
  .filter((file) => file.endsWith('.ts'))
  .sort()
  .map((file) => `examples/${file}`);

interface Outcome {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runExample(file: string): Promise<Outcome> {
  // No API key: examples must work offline, with the embedded FakeChatModel.
  const env = { ...process.env };
  delete env.ANTHROPIC_API_KEY;
  // examples/opentelemetry.ts also dumps spans through OpenTelemetry's console exporter, ids and timings
  // included; its checked output is the stable summary that follows.
  env.CONSOLE_SPANS = '0';
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/**
 * The lines of the example's trailing `// Prints:` block: `// text` gives `text`, a bare `//` an empty line.
 *
 * @throws when the file does not end with such a block.
 */
function expectedOutput(file: string): string[] {
  const lines = readFileSync(join(root, file), 'utf8').trimEnd().split('\n');
  const start = lines.lastIndexOf('// Prints:');
  if (start === -1) throw new Error(`${file} does not end with a "// Prints:" comment block.`);
  return lines.slice(start + 1).map((line, index) => {
    if (line === '//') return '';
    if (!line.startsWith('// ')) {
      throw new Error(`${file}: line ${start + index + 2} of the "// Prints:" block does not start with "// ": ${JSON.stringify(line)}`);
    }
    return line.slice(3).trimEnd();
  });
}

function outputLines(stdout: string): string[] {
  const lines = stdout.split('\n').map((line) => line.trimEnd());
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

describe('examples', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['examples/async-callbacks.ts', 'examples/propagation-bug.ts']));
  });

  it.each(examples)(
    '%s prints what its trailing comment shows',
    async (file) => {
      const expected = expectedOutput(file);
      const { exitCode, stdout, stderr } = await runExample(file);
      // Compared together so a failing run shows its stderr.
      expect({ exitCode, stderr: exitCode === 0 ? '' : stderr }).toEqual({ exitCode: 0, stderr: '' });
      expect(outputLines(stdout)).toEqual(expected);
    },
    30_000,
  );
});
