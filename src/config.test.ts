import { ConfigError, parseOperatorConfig, parseRouterConfig, usage } from './config.js';

describe('configuration', () => {
  it('applies defaults when nothing is set', () => {
    const config = parseOperatorConfig([], {});
    expect(config).toMatchObject({ httpPort: 8080, leaderElect: true, leaseName: 'cell-operator', leaseNamespace: 'default', logLevel: 'info' });
  });

  it('prefers a flag over the environment', () => {
    const config = parseOperatorConfig(['--http-port', '9000'], { HTTP_PORT: '7000' });
    expect(config.httpPort).toBe(9000);
  });

  it('reads booleans from the environment', () => {
    expect(parseOperatorConfig([], { LEADER_ELECT: 'false' }).leaderElect).toBe(false);
  });

  it('names the flag and the variable of every bad value', () => {
    try {
      parseOperatorConfig(['--http-port', '70000', '--lease-name', 'Not_A_Name'], {});
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(2);
      expect((err as Error).message).toContain('--http-port (or HTTP_PORT)');
      expect((err as Error).message).toContain('--lease-name (or LEASE_NAME): must be a DNS subdomain');
    }
  });

  it('refuses an unknown flag', () => {
    expect(() => parseOperatorConfig(['--no-such-flag', 'x'], {})).toThrow(/no-such-flag/);
  });

  it('never echoes a bad database URL, which may hold a password', () => {
    expect(() => parseRouterConfig([], { CONTROL_PLANE_DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(ConfigError);
    try {
      parseRouterConfig([], { CONTROL_PLANE_DATABASE_URL: 'mysql://u:hunter2@h/db' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
      expect((err as Error).message).toContain('CONTROL_PLANE_DATABASE_URL');
    }
  });

  it('refuses a router token shorter than 16 characters', () => {
    expect(() => parseRouterConfig([], { ROUTER_TOKEN: 'short' })).toThrow(/at least 16 characters/);
  });

  it('lists every flag in the usage text', () => {
    expect(usage('operator')).toContain('--lease-namespace');
    expect(usage('router')).toContain('--token-file');
  });
});
