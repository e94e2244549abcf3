import { ClusterUsage } from './cluster-usage.js';

describe('ClusterUsage', () => {
  it('starts a cluster with its first user and stops it with its last', () => {
    const usage = new ClusterUsage();
    expect(usage.use('a', 'east')).toEqual({ start: 'east' });
    expect(usage.use('b', 'east')).toEqual({});
    expect(usage.use('a', 'east')).toEqual({});
    expect(usage.usersOf('east')).toEqual(['a', 'b']);
    expect(usage.release('a')).toEqual({});
    expect(usage.release('b')).toEqual({ stop: 'east' });
    expect(usage.clusters()).toEqual([]);
  });

  it('counts a user once however often it reconciles', () => {
    const usage = new ClusterUsage();
    for (let i = 0; i < 5; i++) usage.use('a', 'east');
    expect(usage.release('a')).toEqual({ stop: 'east' });
    expect(usage.release('a')).toEqual({});
  });

  it('moves a user between clusters, stopping the one it was the last of', () => {
    const usage = new ClusterUsage();
    usage.use('a', 'east');
    expect(usage.use('a', 'west')).toEqual({ stop: 'east', start: 'west' });
    usage.use('b', 'west');
    expect(usage.use('a', 'east')).toEqual({ start: 'east' });
    expect(usage.clusters()).toEqual(['east', 'west']);
  });

  it('releases a user it never saw without changing anything', () => {
    expect(new ClusterUsage().release('ghost')).toEqual({});
  });
});
