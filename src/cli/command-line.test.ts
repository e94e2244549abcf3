import { helpText, parseCommandLine } from './command-line.js';

describe('parseCommandLine', () => {
  it('parses status with the kubeconfig flags', () => {
    expect(parseCommandLine(['status', '--kubeconfig', '/k', '--context', 'kind'])).toEqual({
      kind: 'run',
      command: { name: 'status' },
      options: { kubeconfig: '/k', context: 'kind', yes: false, intervalSeconds: 1 },
    });
  });

  it.each(['watch', 'promote', 'pause', 'resume', 'abort', 'retry'] as const)('parses migration %s NAME', (verb) => {
    expect(parseCommandLine(['migration', verb, 'eu-a-to-b'])).toMatchObject({ kind: 'run', command: { name: 'migration', verb, migration: 'eu-a-to-b' } });
  });

  it('takes --yes for abort and --interval for watch', () => {
    expect(parseCommandLine(['migration', 'abort', 'm', '-y'])).toMatchObject({ options: { yes: true } });
    expect(parseCommandLine(['migration', 'watch', 'm', '--interval', '0.5'])).toMatchObject({ options: { intervalSeconds: 0.5 } });
  });

  it('takes --customer for retry, repeatable, and refuses an id that is none', () => {
    expect(parseCommandLine(['migration', 'retry', 'm', '--customer', 'acme', '--customer', 'globex', '--customer', 'acme'])).toMatchObject({ options: { customers: ['acme', 'globex'] } });
    expect(parseCommandLine(['migration', 'retry', 'm', '--customer', 'Not An Id'])).toMatchObject({ kind: 'usage', message: expect.stringContaining('--customer "Not An Id" is not a customer id') });
    expect(parseCommandLine(['migration', 'abort', 'm', '--customer', 'acme'])).toMatchObject({ kind: 'usage', message: '--customer does not apply to this command' });
  });

  it('parses get, cordon, uncordon and drain of a cell, drain only with --to', () => {
    expect(parseCommandLine(['get', 'eu-1a', '-o', 'yaml'])).toMatchObject({ kind: 'run', command: { name: 'cell', verb: 'get', cell: 'eu-1a' }, options: { output: 'yaml' } });
    expect(parseCommandLine(['cordon', 'eu-1a'])).toMatchObject({ kind: 'run', command: { name: 'cell', verb: 'cordon', cell: 'eu-1a' } });
    expect(parseCommandLine(['uncordon', 'eu-1a'])).toMatchObject({ kind: 'run', command: { name: 'cell', verb: 'uncordon', cell: 'eu-1a' } });
    expect(parseCommandLine(['drain', 'eu-1a', '--to', 'eu-1b'])).toMatchObject({ kind: 'run', command: { name: 'cell', verb: 'drain', cell: 'eu-1a' }, options: { to: 'eu-1b' } });
    expect(parseCommandLine(['drain', 'eu-1a'])).toMatchObject({ kind: 'usage', message: 'drain needs --to TARGET: the cell that receives the customers' });
    expect(parseCommandLine(['cordon', 'eu-1a', '--to', 'x'])).toMatchObject({ kind: 'usage', message: '--to does not apply to this command' });
  });

  it('parses version and completion, and refuses an output format or shell it does not know', () => {
    expect(parseCommandLine(['version', '-o', 'json'])).toMatchObject({ kind: 'run', command: { name: 'version' }, options: { output: 'json' } });
    expect(parseCommandLine(['completion', 'zsh'])).toMatchObject({ kind: 'run', command: { name: 'completion', shell: 'zsh' } });
    expect(parseCommandLine(['completion', 'fish'])).toMatchObject({ kind: 'usage', message: 'completion needs a shell: bash or zsh (got "fish")' });
    expect(parseCommandLine(['status', '-o', 'wide'])).toMatchObject({ kind: 'usage', message: '-o/--output must be json or yaml (got "wide")' });
  });

  it('takes the router URL from --router-url, else CELL_ROUTER_URL', () => {
    expect(parseCommandLine(['route', 'acme', '--router-url', 'http://r:8090/'], { CELL_ROUTER_URL: 'http://env:1' })).toMatchObject({
      command: { name: 'route', customer: 'acme' },
      options: { routerUrl: 'http://r:8090' },
    });
    expect(parseCommandLine(['route', 'acme'], { CELL_ROUTER_URL: 'http://env:1' })).toMatchObject({ options: { routerUrl: 'http://env:1' } });
  });

  it('prints the help of the command asked about', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', text: helpText('top') });
    expect(parseCommandLine(['migration', 'abort', '--help'])).toEqual({ kind: 'help', text: helpText('abort') });
    expect(parseCommandLine(['help', 'route'])).toEqual({ kind: 'help', text: helpText('route') });
    expect(parseCommandLine(['status', '-h'])).toEqual({ kind: 'help', text: helpText('status') });
  });

  it.each([
    [[], 'no command given'],
    [['frob'], 'unknown command "frob"'],
    [['status', 'x'], 'status takes no argument (got "x")'],
    [['migration'], 'migration needs a verb: watch, promote, pause, resume, abort or retry'],
    [['migration', 'promote'], 'migration promote needs the name of a Migration'],
    [['migration', 'promote', 'a', 'b'], 'unexpected argument "b"'],
    [['migration', 'promote', 'a', '--yes'], '--yes does not apply to this command'],
    [['migration', 'watch', 'a', '--interval', 'soon'], '--interval must be a number of seconds from 0.1 to 3600'],
    [['route'], 'route needs a customer id'],
    [['route', 'acme'], 'where is the router? Pass --router-url URL or set CELL_ROUTER_URL'],
    [['route', 'acme', '--router-url', 'ftp://x'], '--router-url (or CELL_ROUTER_URL) "ftp://x" must be an http:// or https:// URL'],
    [['route', 'acme', '--kubeconfig', '/k', '--router-url', 'http://x'], '--kubeconfig does not apply to this command'],
  ])('refuses %j: %s', (argv, message) => {
    expect(parseCommandLine(argv)).toMatchObject({ kind: 'usage', message });
  });

  it('refuses a customer id the router would refuse, before asking it', () => {
    expect(parseCommandLine(['route', 'Acme Corp', '--router-url', 'http://r'])).toMatchObject({ kind: 'usage', message: expect.stringMatching(/^"Acme Corp" is not a customer id: must be lowercase/) });
    expect(parseCommandLine(['route', 'changes', '--router-url', 'http://r'])).toMatchObject({ kind: 'usage', message: '"changes" is not a customer id: "changes" is reserved' });
  });

  it('refuses unknown flags with the help of the command', () => {
    expect(parseCommandLine(['migration', 'pause', 'm', '--force'])).toMatchObject({ kind: 'usage', help: helpText('pause') });
  });
});
