import { describe, expect, it } from 'vitest';

import {
  checkForm,
  defaultName,
  parameterValue,
  ScheduleForm,
  specPath,
  specToml
} from '../src/spec';

const form: ScheduleForm = {
  name: 'daily-sales',
  notebook: 'daily_report.ipynb',
  owner: 'ana@example.com',
  purpose: 'reporting',
  cron: '0 6 * * *',
  timezone: 'Europe/London',
  startDate: '2026-11-27',
  parameters: [
    { name: 'run_date', kind: 'text', value: '{{ ds }}' },
    { name: 'limit', kind: 'int', value: '100' },
    { name: 'ratio', kind: 'float', value: '2' },
    { name: 'dry_run', kind: 'bool', value: 'False' }
  ],
  trigger: { inputs: ['warehouse.orders'], partition: 'day', timeout: '6h' },
  limits: { timeout: '2h', cellTimeout: '30m', memory: '4G' },
  retries: { count: 2, delay: '10m' },
  notify: [
    {
      kind: 'email',
      address: 'ana@example.com',
      on: ['failure', 'slow'],
      slowAfter: '1h'
    },
    { kind: 'webhook', address: 'https://hooks.example/x', on: ['success'] }
  ]
};

describe('specToml', () => {
  it('writes every section in the spec format', () => {
    expect(specToml(form)).toBe(
      [
        '# Written by the Tiffin JupyterLab extension; see `runner schedule preview`.',
        'name = "daily-sales"',
        'notebook = "daily_report.ipynb"',
        'owner = "ana@example.com"',
        'purpose = "reporting"',
        'cadence = "0 6 * * *"',
        'timezone = "Europe/London"',
        'start_date = "2026-11-27"',
        '',
        '[parameters]',
        'run_date = "{{ ds }}"',
        'limit = 100',
        'ratio = 2.0',
        'dry_run = false',
        '',
        '[trigger]',
        'inputs = ["warehouse.orders"]',
        'partition = "day"',
        'timeout = "6h"',
        '',
        '[limits]',
        'timeout = "2h"',
        'cell_timeout = "30m"',
        'memory = "4G"',
        '',
        '[retries]',
        'count = 2',
        'delay = "10m"',
        '',
        '[[notify]]',
        'email = "ana@example.com"',
        'on = ["failure", "slow"]',
        'slow_after = "1h"',
        '',
        '[[notify]]',
        'webhook = "https://hooks.example/x"',
        'on = ["success"]',
        ''
      ].join('\n')
    );
  });
  it('leaves out empty sections and escapes strings', () => {
    const text = specToml({
      ...form,
      owner: 'a "quoted"\\ owner\n',
      startDate: '',
      parameters: [],
      trigger: undefined,
      limits: { timeout: '', cellTimeout: '', memory: '' },
      retries: { count: 0, delay: '10m' },
      notify: []
    });
    expect(text).toContain('owner = "a \\"quoted\\"\\\\ owner\\n"');
    for (const absent of [
      'start_date',
      '[parameters]',
      '[trigger]',
      '[limits]',
      '[retries]',
      '[[notify]]'
    ]) {
      expect(text).not.toContain(absent);
    }
  });
});

describe('parameterValue', () => {
  it("keeps the notebook's type while the text fits it, else writes a string", () => {
    expect(parameterValue('int', ' 7 ')).toBe('7');
    expect(parameterValue('int', '7.5')).toBe('"7.5"');
    expect(parameterValue('float', '.5')).toBe('0.5');
    expect(parameterValue('float', '1e3')).toBe('1e3');
    expect(parameterValue('float', '3.')).toBe('3.0');
    expect(parameterValue('bool', 'TRUE')).toBe('true');
    expect(parameterValue('bool', 'yes')).toBe('"yes"');
    expect(parameterValue('text', '42')).toBe('"42"');
  });
});

describe('names and checks', () => {
  it('derives the spec path and a schedule name from the notebook', () => {
    expect(specPath('reports/daily report.ipynb')).toBe(
      'reports/daily report.schedule.toml'
    );
    expect(defaultName('reports/daily report (v2).ipynb')).toBe(
      'daily-report-v2'
    );
  });
  it('reports each bad field', () => {
    expect(checkForm(form)).toEqual({});
    expect(
      checkForm({
        ...form,
        name: 'daily sales',
        owner: ' ',
        startDate: '27/11/2026',
        limits: { timeout: '2 hours', cellTimeout: '0m', memory: 'lots' },
        retries: { count: -1, delay: '10m' },
        notify: [{ kind: 'email', address: '', on: ['failure'] }]
      })
    ).toEqual({
      name: 'letters, digits, - and _ only',
      owner: 'who is notified of failures',
      startDate: 'a date, YYYY-MM-DD',
      timeout: '`2 hours` is not a duration (e.g. 90s, 30m, 2h, 1d, 1h30m)',
      cellTimeout: '`0m` is not a duration (e.g. 90s, 30m, 2h, 1d, 1h30m)',
      memory: 'a size, e.g. 512M or 4G',
      retries: 'a whole number, 0 or more',
      notify0: 'an e-mail address or a webhook URL'
    });
  });
});

describe('fieldErrors', () => {
  it('files the API spec problems under the form fields', async () => {
    const { fieldErrors } = await import('../src/spec');
    const text = [
      'a/b.schedule.toml:3:9: `owner` is missing',
      'a/b.schedule.toml:5:11: `cadence`: `0 6 * *` is neither a preset nor a cron expression of 5 fields',
      'a/b.schedule.toml:14:11: `limits.cell_timeout`: `x` is not a duration',
      'a/b.schedule.toml:1:1: cannot read the file'
    ].join('\n');
    expect(fieldErrors(text)).toEqual({
      owner: '`owner` is missing',
      cadence:
        '`cadence`: `0 6 * *` is neither a preset nor a cron expression of 5 fields',
      cellTimeout: '`limits.cell_timeout`: `x` is not a duration',
      '': 'a/b.schedule.toml:1:1: cannot read the file'
    });
  });
});
