import { describe, expect, it } from 'vitest';

import {
  cadenceToCron,
  CronError,
  describeCron,
  formatInZone,
  nextRuns,
  parseCron,
  tomorrow
} from '../src/cron';

const iso = (dates: Date[]): string[] => dates.map(d => d.toISOString());

describe('cadenceToCron', () => {
  const base = { time: '06:30', weekday: 1, monthday: 15, cron: '' };
  it('turns each preset and its time into cron', () => {
    expect(cadenceToCron({ ...base, kind: 'hourly', time: '00:15' })).toBe(
      '15 * * * *'
    );
    expect(cadenceToCron({ ...base, kind: 'daily' })).toBe('30 6 * * *');
    expect(cadenceToCron({ ...base, kind: 'weekly' })).toBe('30 6 * * 1');
    expect(cadenceToCron({ ...base, kind: 'monthly' })).toBe('30 6 15 * *');
    expect(
      cadenceToCron({ ...base, kind: 'custom', cron: ' 0  */2 * * 1-5 ' })
    ).toBe('0 */2 * * 1-5');
  });
  it('refuses a time that is not HH:MM', () => {
    expect(() =>
      cadenceToCron({ ...base, kind: 'daily', time: '25:00' })
    ).toThrow(CronError);
    expect(() =>
      cadenceToCron({ ...base, kind: 'daily', time: '6pm' })
    ).toThrow('HH:MM');
  });
});

describe('parseCron', () => {
  it('expands lists, ranges, steps and presets', () => {
    const cron = parseCron('0,30 9-17/4 * * 1-5');
    expect(cron.minutes).toEqual([0, 30]);
    expect(cron.hours).toEqual([9, 13, 17]);
    expect(cron.weekdays).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('@daily').hours).toEqual([0]);
    expect(parseCron('weekly').weekdays).toEqual([0]);
    expect(parseCron('0 0 * * 7').weekdays).toEqual([0]);
  });
  it('says what is wrong', () => {
    expect(() => parseCron('0 6 * *')).toThrow('5 fields');
    expect(() => parseCron('60 6 * * *')).toThrow(
      'minute: `60` is out of range'
    );
    expect(() => parseCron('0 6 x * *')).toThrow('day of month: `x`');
  });
});

describe('describeCron', () => {
  it('tells presets and common cadences in plain language', () => {
    expect(describeCron('0 6 * * *', 'Europe/London')).toBe(
      'every day at 06:00 Europe/London'
    );
    expect(describeCron('hourly', 'UTC')).toBe('every hour at :00 UTC');
    expect(describeCron('30 9 * * 1', 'UTC')).toBe('every Monday at 09:30 UTC');
    expect(describeCron('0 7 * * 1-5', 'America/New_York')).toBe(
      'every weekday (Monday to Friday) at 07:00 America/New_York'
    );
    expect(describeCron('0 0 1 * *', 'UTC')).toBe(
      'on day 1 of every month at 00:00 UTC'
    );
    expect(describeCron('0 6 * 1,7 6,0', '')).toBe(
      'every Sunday and Saturday at 06:00 in January and July UTC'
    );
  });
});

describe('nextRuns', () => {
  it('counts daily runs in the zone, from the start date', () => {
    const after = new Date('2026-11-26T15:00:00Z');
    expect(iso(nextRuns('0 6 * * *', 'Europe/London', after, 3))).toEqual([
      '2026-11-27T06:00:00.000Z',
      '2026-11-28T06:00:00.000Z',
      '2026-11-29T06:00:00.000Z'
    ]);
    expect(
      iso(nextRuns('0 6 * * *', 'Europe/London', after, 1, '2026-12-10'))
    ).toEqual(['2026-12-10T06:00:00.000Z']);
  });
  it('follows summer time (06:00 London is 05:00 UTC in June)', () => {
    const after = new Date('2026-03-28T12:00:00Z');
    expect(iso(nextRuns('0 6 * * *', 'Europe/London', after, 2))).toEqual([
      '2026-03-29T05:00:00.000Z',
      '2026-03-30T05:00:00.000Z'
    ]);
  });
  it('skips a time the clocks jump over and runs an ambiguous one once', () => {
    // 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice.
    const spring = nextRuns(
      '30 2 * * *',
      'America/New_York',
      new Date('2026-03-07T12:00:00Z'),
      2
    );
    expect(iso(spring)).toEqual([
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z'
    ]);
    const autumn = nextRuns(
      '30 1 * * *',
      'America/New_York',
      new Date('2026-10-31T12:00:00Z'),
      2
    );
    expect(iso(autumn)).toEqual([
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:30:00.000Z'
    ]);
  });
  it('handles month ends and leap days', () => {
    const after = new Date('2027-01-01T00:00:00Z');
    expect(iso(nextRuns('0 0 29 2 *', 'UTC', after, 1))).toEqual([
      '2028-02-29T00:00:00.000Z'
    ]);
    expect(iso(nextRuns('0 12 31 * *', 'UTC', after, 3))).toEqual([
      '2027-01-31T12:00:00.000Z',
      '2027-03-31T12:00:00.000Z',
      '2027-05-31T12:00:00.000Z'
    ]);
  });
  it("uses cron's OR when both day fields are restricted", () => {
    const after = new Date('2026-11-26T00:00:00Z'); // a Thursday
    expect(iso(nextRuns('0 0 1 * 1', 'UTC', after, 3))).toEqual([
      '2026-11-30T00:00:00.000Z',
      '2026-12-01T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z'
    ]);
  });
  it('finds nothing for a date that never comes', () => {
    expect(nextRuns('0 0 31 2 *', 'UTC', new Date(), 1)).toEqual([]);
  });
});

describe('dates', () => {
  it('formats in the zone and finds tomorrow there', () => {
    const instant = new Date('2026-11-27T06:00:00Z');
    expect(formatInZone(instant, 'Europe/London')).toBe(
      'Fri, 27 Nov 2026, 06:00 (Europe/London)'
    );
    // 23:30 UTC is already the next day in Tokyo.
    const late = new Date('2026-11-26T23:30:00Z');
    expect(tomorrow(late, 'UTC')).toBe('2026-11-27');
    expect(tomorrow(late, 'Asia/Tokyo')).toBe('2026-11-28');
  });
});
