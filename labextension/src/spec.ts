/**
 * The schedule form's values written as a spec file (`<stem>.schedule.toml`, the format of
 * runner/src/schedule/spec.rs) and checked as far as the browser can before the API checks the
 * rest. Pure, unit-tested.
 */

import { NotebookParameter, ParameterKind } from './notebook';

export interface NotifyTarget {
  kind: 'email' | 'webhook';
  address: string;
  on: Array<'failure' | 'success' | 'slow'>;
  slowAfter?: string;
}

export interface ScheduleForm {
  name: string;
  /** The notebook's file name: specs sit next to their notebook. */
  notebook: string;
  owner: string;
  purpose: string;
  cron: string;
  timezone: string;
  startDate: string;
  parameters: Array<{ name: string; kind: ParameterKind; value: string }>;
  trigger?: { inputs: string[]; partition: string; timeout: string };
  limits: { timeout: string; cellTimeout: string; memory: string };
  retries: { count: number; delay: string };
  notify: NotifyTarget[];
}

/** A TOML basic string (JSON's escapes are all TOML escapes). */
export function tomlString(text: string): string {
  return JSON.stringify(text);
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

function tomlKey(key: string): string {
  return BARE_KEY.test(key) ? key : tomlString(key);
}

/** A parameter's value in TOML: the notebook's literal type where the text still fits it. */
export function parameterValue(kind: ParameterKind, value: string): string {
  const text = value.trim();
  if (kind === 'int' && /^[-+]?\d+$/.test(text)) {
    return text.replace(/^\+/, '');
  }
  if (
    kind === 'float' &&
    /^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(text)
  ) {
    const normal = text.replace(/^\+/, '');
    const withDigits = normal
      .replace(/^(-?)\./, '$10.')
      .replace(/\.(e|$)/i, '.0$1');
    return /[.eE]/.test(withDigits) ? withDigits : `${withDigits}.0`;
  }
  if (kind === 'bool' && /^(true|false)$/i.test(text)) {
    return text.toLowerCase();
  }
  return tomlString(value);
}

/** The form's parameters, from the notebook's (defaults as values). */
export function formParameters(
  parameters: NotebookParameter[]
): ScheduleForm['parameters'] {
  return parameters
    .filter(p => p.kind !== 'other')
    .map(p => ({ name: p.name, kind: p.kind, value: p.value }));
}

export function specToml(form: ScheduleForm): string {
  const lines: string[] = [
    '# Written by the Tiffin JupyterLab extension; see `runner schedule preview`.',
    `name = ${tomlString(form.name)}`,
    `notebook = ${tomlString(form.notebook)}`,
    `owner = ${tomlString(form.owner)}`,
    `purpose = ${tomlString(form.purpose)}`,
    `cadence = ${tomlString(form.cron)}`,
    `timezone = ${tomlString(form.timezone || 'UTC')}`
  ];
  if (form.startDate) {
    lines.push(`start_date = ${tomlString(form.startDate)}`);
  }
  if (form.parameters.length) {
    lines.push('', '[parameters]');
    for (const p of form.parameters) {
      lines.push(`${tomlKey(p.name)} = ${parameterValue(p.kind, p.value)}`);
    }
  }
  if (form.trigger && form.trigger.inputs.length) {
    lines.push('', '[trigger]');
    lines.push(`inputs = [${form.trigger.inputs.map(tomlString).join(', ')}]`);
    if (form.trigger.partition) {
      lines.push(`partition = ${tomlString(form.trigger.partition)}`);
    }
    if (form.trigger.timeout) {
      lines.push(`timeout = ${tomlString(form.trigger.timeout)}`);
    }
  }
  const limits: Array<[string, string]> = [
    ['timeout', form.limits.timeout],
    ['cell_timeout', form.limits.cellTimeout],
    ['memory', form.limits.memory]
  ];
  if (limits.some(([, v]) => v)) {
    lines.push('', '[limits]');
    for (const [key, value] of limits) {
      if (value) {
        lines.push(`${key} = ${tomlString(value)}`);
      }
    }
  }
  if (form.retries.count > 0) {
    lines.push('', '[retries]', `count = ${form.retries.count}`);
    if (form.retries.delay) {
      lines.push(`delay = ${tomlString(form.retries.delay)}`);
    }
  }
  for (const target of form.notify) {
    lines.push('', '[[notify]]');
    lines.push(`${target.kind} = ${tomlString(target.address)}`);
    lines.push(`on = [${target.on.map(tomlString).join(', ')}]`);
    if (target.slowAfter && target.on.includes('slow')) {
      lines.push(`slow_after = ${tomlString(target.slowAfter)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** `daily_report.ipynb` → `daily_report.schedule.toml`, in the same directory. */
export function specPath(notebookPath: string): string {
  return notebookPath.replace(/\.ipynb$/, '') + '.schedule.toml';
}

/** A name for the schedule from the notebook's: letters, digits, - and _. */
export function defaultName(notebookPath: string): string {
  const stem = notebookPath
    .split('/')
    .pop()!
    .replace(/\.ipynb$/, '');
  return (
    stem.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'schedule'
  );
}

/** `90s`, `30m`, `2h`, `1d`, `1h30m`, as spec.rs `parse_duration` takes them. */
export function isDuration(text: string): boolean {
  return (
    /^(\d+[smhd])+$/.test(text.trim()) && !/^(0+[smhd])+$/.test(text.trim())
  );
}

/** Problems the browser can see before the API is asked, by field. */
export function checkForm(form: ScheduleForm): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!/^[A-Za-z0-9_-]+$/.test(form.name)) {
    problems.name = 'letters, digits, - and _ only';
  }
  if (!form.owner.trim()) {
    problems.owner = 'who is notified of failures';
  }
  if (!form.purpose.trim()) {
    problems.purpose = 'the purpose the policy checks the reads against';
  }
  if (form.startDate && !/^\d{4}-\d{2}-\d{2}$/.test(form.startDate)) {
    problems.startDate = 'a date, YYYY-MM-DD';
  }
  const durations: Array<[string, string]> = [
    ['timeout', form.limits.timeout],
    ['cellTimeout', form.limits.cellTimeout],
    ['retryDelay', form.retries.delay],
    ['triggerTimeout', form.trigger?.timeout ?? '']
  ];
  for (const [field, value] of durations) {
    if (value && !isDuration(value)) {
      problems[field] =
        `\`${value}\` is not a duration (e.g. 90s, 30m, 2h, 1d, 1h30m)`;
    }
  }
  if (
    form.limits.memory &&
    !/^\d+\s*([KMGT]?i?B?)$/i.test(form.limits.memory.trim())
  ) {
    problems.memory = 'a size, e.g. 512M or 4G';
  }
  if (!Number.isInteger(form.retries.count) || form.retries.count < 0) {
    problems.retries = 'a whole number, 0 or more';
  }
  for (const [i, target] of form.notify.entries()) {
    if (!target.address.trim()) {
      problems[`notify${i}`] = 'an e-mail address or a webhook URL';
    }
  }
  return problems;
}

const SPEC_FIELDS: Array<[RegExp, string]> = [
  [/^name$/, 'name'],
  [/^owner$/, 'owner'],
  [/^purpose$/, 'purpose'],
  [/^cadence$/, 'cadence'],
  [/^timezone$/, 'timezone'],
  [/^start_date$/, 'startDate'],
  [/^parameters\b/, 'parameters'],
  [/^trigger\.timeout$/, 'triggerTimeout'],
  [/^trigger\b/, 'trigger'],
  [/^limits\.timeout$/, 'timeout'],
  [/^limits\.cell_timeout$/, 'cellTimeout'],
  [/^limits\.memory$/, 'memory'],
  [/^retries\.delay$/, 'retryDelay'],
  [/^retries\b/, 'retries'],
  [/^notify\b/, 'notify0']
];

/**
 * The spec problems of an API error (`path:line:col: \`field\`: message`, one a line) by form
 * field; problems naming no field of the form are under `''`.
 */
export function fieldErrors(text: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /:\d+:\d+: (?:`([\w.[\]]+)`(?::| is| must)?\s*)?(.*)$/.exec(
      line
    );
    if (!match) {
      continue;
    }
    const key = match[1] ?? '';
    const field = SPEC_FIELDS.find(([pattern]) => pattern.test(key))?.[1] ?? '';
    const message = field ? line.slice(line.indexOf('`')) : line;
    found[field] = found[field] ? `${found[field]}\n${message}` : message;
  }
  return found;
}
