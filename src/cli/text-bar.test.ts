import { count, percent, textBar } from './text-bar.js';

describe('textBar', () => {
  it('draws 48% of ten cells as five filled', () => {
    expect(textBar(48, 100)).toBe('[#####.....]');
  });

  it('draws an empty and a full bar', () => {
    expect(textBar(0, 100)).toBe('[..........]');
    expect(textBar(100, 100)).toBe('[##########]');
  });

  it('never draws something as nothing, nor unfinished as full', () => {
    expect(textBar(1, 1000)).toBe('[#.........]');
    expect(textBar(999, 1000)).toBe('[#########.]');
  });

  it('is full beyond 100% and empty when there is no total', () => {
    expect(textBar(120, 100)).toBe('[##########]');
    expect(textBar(5, 0)).toBe('[..........]');
  });

  it('takes a width', () => {
    expect(textBar(1, 4, 8)).toBe('[##......]');
  });
});

describe('percent', () => {
  it('rounds down so that almost done does not read as done', () => {
    expect(percent(997, 1000)).toBe('99%');
    expect(percent(48, 100)).toBe('48%');
  });

  it('says <1% for a start and 0% for nothing', () => {
    expect(percent(1, 1000)).toBe('<1%');
    expect(percent(0, 10)).toBe('0%');
    expect(percent(3, 0)).toBe('0%');
  });
});

describe('count', () => {
  it('groups thousands the same way on every machine', () => {
    expect(count(1234567)).toBe('1,234,567');
    expect(count(0)).toBe('0');
  });
});
