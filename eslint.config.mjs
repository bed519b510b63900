// Type-aware linting: `no-floating-promises` catches the un-awaited run or handler promise that would
// otherwise surface as an unhandled rejection, and `consistent-type-imports` keeps type-only imports
// from loading modules at run time (which matters for the lazily loaded cls-hooked backend).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.scratch/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Specs exercise bad input on purpose and use jest's loosely typed mocks.
    files: ['spec/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    // The runtime suite runs in Node, Bun, Deno, workerd and browsers: the globals they share.
    files: ['spec/runtimes/**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['AbortController', 'URL', 'Response', 'fetch', 'console', 'process', 'setTimeout', 'setInterval', 'clearInterval', 'queueMicrotask'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
