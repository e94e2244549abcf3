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
