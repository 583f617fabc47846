/**
 * Cron expressions as the spec takes them (5 fields, or a preset), told in plain language and
 * counted forward in an IANA time zone. Pure: no JupyterLab imports, unit-tested.
 */

export type Preset = 'hourly' | 'daily' | 'weekly' | 'monthly';

/** The cron expression of each preset, as `runner` expands them (spec.rs `parse_cadence`). */
export const PRESET_CRON: Record<Preset, string> = {
  hourly: '0 * * * *',
  daily: '0 0 * * *',
  weekly: '0 0 * * 0',
  monthly: '0 0 1 * *'
};

/** Day names, indexed as cron numbers them (0 = Sunday). */
export const DAYS = [
  'Sunday',
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday'
];

/** The cadence form's choice, turned into a 5-field cron expression. */
export interface CadenceChoice {
  kind: Preset | 'custom';
  /** "HH:MM" for daily, weekly and monthly; the minute for hourly. */
  time: string;
  /** 0 (Sunday) to 6, for weekly. */
  weekday: number;
  /** 1 to 28, for monthly. */
  monthday: number;
  /** The expression, for custom. */
  cron: string;
}

export function cadenceToCron(choice: CadenceChoice): string {
  if (choice.kind === 'custom') {
    return choice.cron.trim().replace(/\s+/g, ' ');
  }
  const [hour, minute] = parseTime(choice.time);
  switch (choice.kind) {
    case 'hourly':
      return `${minute} * * * *`;
    case 'daily':
      return `${minute} ${hour} * * *`;
    case 'weekly':
      return `${minute} ${hour} * * ${choice.weekday}`;
    case 'monthly':
      return `${minute} ${hour} ${choice.monthday} * *`;
  }
}

function parseTime(text: string): [number, number] {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match) {
    throw new CronError(`\`${text}\` is not a time of day (HH:MM)`);
  }
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  if (hour > 23 || minute > 59) {
    throw new CronError(`\`${text}\` is not a time of day (HH:MM)`);
  }
  return [hour, minute];
}

export class CronError extends Error {}

/** A parsed expression: the allowed values of each field. */
export interface Cron {
  minutes: number[];
  hours: number[];
  days: number[];
  months: number[];
  weekdays: number[];
  /** Whether day-of-month / day-of-week were `*` (cron's OR rule applies when neither is). */
  anyDay: boolean;
  anyWeekday: boolean;
}

const FIELDS: Array<[string, number, number]> = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7]
];

export function parseCron(expression: string): Cron {
  const text = expression.trim();
  const preset = text.replace(/^@/, '') as Preset;
  const expanded = PRESET_CRON[preset] ?? text;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      `\`${text}\` is neither a preset (hourly, daily, weekly, monthly) nor a cron expression of 5 fields`
    );
  }
  const values = parts.map((part, i) => parseField(part, ...FIELDS[i]));
  const weekdays = [...new Set(values[4].map(d => d % 7))].sort(
    (a, b) => a - b
  );
  return {
    minutes: values[0],
    hours: values[1],
    days: values[2],
    months: values[3],
    weekdays,
    anyDay: parts[2] === '*' || parts[2] === '?',
    anyWeekday: parts[4] === '*' || parts[4] === '?'
  };
}

function parseField(
  text: string,
  name: string,
  low: number,
  high: number
): number[] {
  const found = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|\?|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
    if (!match) {
      throw new CronError(`${name}: \`${item}\` is not a cron field`);
    }
    let from = low;
    let to = high;
    if (match[1] !== '*' && match[1] !== '?') {
      const [a, b] = match[1].split('-').map(Number);
      from = a;
      to = b ?? (match[2] ? high : a);
    }
    const step = match[2] ? Number(match[2]) : 1;
    if (from < low || to > high || from > to || step < 1) {
      throw new CronError(
        `${name}: \`${item}\` is out of range (${low}-${high})`
      );
    }
    for (let v = from; v <= to; v += step) {
      found.add(v);
    }
  }
  return [...found].sort((a, b) => a - b);
}

const pad = (n: number): string => String(n).padStart(2, '0');

function isRange(values: number[], low: number, high: number): boolean {
  return (
    values.length === high - low + 1 &&
    values[0] === low &&
    values[values.length - 1] === high
  );
}

function list(words: string[]): string {
  return words.length <= 1
    ? words.join('')
    : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** "every day at 06:00 Europe/London", "every Monday at 09:30 UTC", "every hour at :15 UTC". */
export function describeCron(expression: string, timezone: string): string {
  const cron = parseCron(expression);
  const zone = timezone || 'UTC';
  const everyMinute = isRange(cron.minutes, 0, 59);
  const everyHour = isRange(cron.hours, 0, 23);
  const allMonths = isRange(cron.months, 1, 12);
  const simpleTime = cron.minutes.length === 1 && cron.hours.length === 1;

  let when: string;
  if (everyMinute && everyHour) {
    when = 'every minute';
  } else if (cron.minutes.length === 1 && everyHour) {
    when = `every hour at :${pad(cron.minutes[0])}`;
  } else if (simpleTime) {
    when = `at ${pad(cron.hours[0])}:${pad(cron.minutes[0])}`;
  } else if (cron.minutes.length === 1) {
    when = `at minute ${cron.minutes[0]} of hours ${cron.hours.join(', ')}`;
  } else {
    when = `at minutes ${cron.minutes.join(', ')} of hours ${cron.hours.join(', ')}`;
  }

  let days: string;
  if (cron.anyDay && cron.anyWeekday) {
    days = when.startsWith('every') ? '' : 'every day';
  } else if (cron.anyDay) {
    const weekdays = cron.weekdays;
    if (weekdays.join() === '1,2,3,4,5') {
      days = 'every weekday (Monday to Friday)';
    } else {
      days = `every ${list(weekdays.map(d => DAYS[d]))}`;
    }
  } else {
    const dayText = `on day ${list(cron.days.map(String))} of`;
    days = cron.anyWeekday
      ? `${dayText} every month`
      : `${dayText} every month and every ${list(cron.weekdays.map(d => DAYS[d]))}`;
  }
  const months = allMonths
    ? ''
    : ` in ${list(cron.months.map(m => MONTHS[m - 1]))}`;
  const text = [days, when].filter(Boolean).join(' ');
  return `${text}${months} ${zone}`;
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December'
];

/** The wall-clock fields of an instant in a zone. */
interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(instant: number, zone: string): Wall {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric'
    });
    formatters.set(zone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instant))) {
    if (part.type !== 'literal') {
      parts[part.type] = Number(part.value);
    }
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute
  };
}

/** Whether the zone is one Intl knows (IANA names, e.g. Europe/London). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function wallUtc(w: Wall): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
}

/**
 * The instant a wall-clock time has in the zone; null when the time does not exist there (the
 * hour skipped when clocks go forward). Of an ambiguous time (clocks going back), the earlier.
 */
export function zonedInstant(w: Wall, zone: string): number | null {
  const target = wallUtc(w);
  const candidates = new Set<number>();
  for (const probe of [target - 36e5 * 14, target, target + 36e5 * 14]) {
    const offset = wallUtc(wallClock(probe, zone)) - probe;
    candidates.add(target - offset);
  }
  const matches = [...candidates]
    .filter(c => wallUtc(wallClock(c, zone)) === target)
    .sort((a, b) => a - b);
  return matches.length ? matches[0] : null;
}

/**
 * The next `count` run times after `after` (exclusive), not before `startDate` (YYYY-MM-DD, in
 * the zone), as instants (ms since the epoch).
 */
export function nextRuns(
  expression: string,
  timezone: string,
  after: Date,
  count: number,
  startDate?: string
): Date[] {
  const cron = parseCron(expression);
  const zone = timezone || 'UTC';
  const now = wallClock(after.getTime(), zone);
  let day = Date.UTC(now.year, now.month - 1, now.day);
  if (startDate && /^\d{4}-\d{2}-\d{2}$/.test(startDate)) {
    day = Math.max(day, Date.parse(`${startDate}T00:00:00Z`));
  }
  const found: Date[] = [];
  // Five years of days bounds the search (a `31 2`-style expression never matches).
  for (let i = 0; i < 366 * 5 && found.length < count; i++, day += 864e5) {
    const d = new Date(day);
    const month = d.getUTCMonth() + 1;
    const dom = d.getUTCDate();
    const dow = d.getUTCDay();
    if (!cron.months.includes(month)) {
      continue;
    }
    const domOk = cron.days.includes(dom);
    const dowOk = cron.weekdays.includes(dow);
    const dayOk =
      cron.anyDay || cron.anyWeekday
        ? (cron.anyDay || domOk) && (cron.anyWeekday || dowOk)
        : domOk || dowOk;
    if (!dayOk) {
      continue;
    }
    for (const hour of cron.hours) {
      for (const minute of cron.minutes) {
        const instant = zonedInstant(
          {
            year: d.getUTCFullYear(),
            month,
            day: dom,
            hour,
            minute
          },
          zone
        );
        if (instant !== null && instant > after.getTime()) {
          found.push(new Date(instant));
          if (found.length === count) {
            return found;
          }
        }
      }
    }
  }
  return found;
}

/** "Fri 27 Nov 2026, 06:00 (Europe/London)": a run time as its zone's clock shows it. */
export function formatInZone(instant: Date, timezone: string): string {
  const zone = timezone || 'UTC';
  const text = new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hourCycle: 'h23',
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit'
  }).format(instant);
  return `${text} (${zone})`;
}

/** The day after `now` in the zone, YYYY-MM-DD: the spec's default start date. */
export function tomorrow(now: Date, timezone: string): string {
  const w = wallClock(now.getTime(), timezone || 'UTC');
  const next = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  return next.toISOString().slice(0, 10);
}
