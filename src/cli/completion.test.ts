import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { bashCompletion, zshCompletion } from './completion.js';

const run = promisify(execFile);

describe('shell completion', () => {
  it('is a bash script bash accepts, that completes commands, verbs and flags', async () => {
    const script = bashCompletion();
    await run('bash', ['-n', '-c', script]);
    // Completes `kubectl-cells mi<TAB>` and `kubectl-cells migration re<TAB>` with bash itself.
    const complete = async (words: string[]) =>
      (
        await run('bash', [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kubectl_cells; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ])
      ).stdout.trim().split('\n');
    expect(await complete(['kubectl-cells', 'mi'])).toEqual(['migration']);
    expect((await complete(['kubectl-cells', 'migration', 're'])).sort()).toEqual(['resume', 'retry']);
    expect(await complete(['kubectl-cells', 'status', '-o', 'y'])).toEqual(['yaml']);
    expect(await complete(['kubectl-cells', 'completion', 'z'])).toEqual(['zsh']);
  });

  it('gives zsh the same through bashcompinit', () => {
    expect(zshCompletion()).toMatch(/^#compdef kubectl-cells\n/);
    expect(zshCompletion()).toContain('bashcompinit');
    expect(zshCompletion()).toContain('complete -F _kubectl_cells kubectl-cells');
  });
});
