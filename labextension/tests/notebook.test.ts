import { describe, expect, it } from 'vitest';

import {
  notebookParameters,
  parseParameters,
  sqlInputs
} from '../src/notebook';

describe('parseParameters', () => {
  it('reads names, defaults and types, without comments', () => {
    const source = [
      '# defaults for interactive use',
      'run_date = "2026-11-01"  # the day # to report',
      "region = 'north'",
      'limit = 100',
      'ratio: float = 0.5',
      'dry_run = False',
      'path = r"C:\\tmp"',
      'tags = ["a", "b"]',
      'x = 1',
      'x = 2',
      'print(x)'
    ].join('\n');
    expect(parseParameters(source)).toEqual([
      {
        name: 'run_date',
        literal: '"2026-11-01"',
        kind: 'text',
        value: '2026-11-01'
      },
      { name: 'region', literal: "'north'", kind: 'text', value: 'north' },
      { name: 'limit', literal: '100', kind: 'int', value: '100' },
      { name: 'ratio', literal: '0.5', kind: 'float', value: '0.5' },
      { name: 'dry_run', literal: 'False', kind: 'bool', value: 'false' },
      { name: 'path', literal: 'r"C:\\tmp"', kind: 'text', value: 'C:\\tmp' },
      {
        name: 'tags',
        literal: '["a", "b"]',
        kind: 'other',
        value: '["a", "b"]'
      },
      { name: 'x', literal: '2', kind: 'int', value: '2' }
    ]);
  });
  it('takes only the cell tagged parameters', () => {
    const cells = [
      { cell_type: 'code', source: 'a = 1', metadata: {} },
      {
        cell_type: 'markdown',
        source: 'b = 2',
        metadata: { tags: ['parameters'] }
      },
      {
        cell_type: 'code',
        source: ['c = 3\n', 'd = "x"'],
        metadata: { tags: ['parameters'] }
      }
    ];
    expect(notebookParameters(cells).map(p => [p.name, p.value])).toEqual([
      ['c', '3'],
      ['d', 'x']
    ]);
    expect(notebookParameters([cells[0]])).toEqual([]);
  });
});

describe('sqlInputs', () => {
  it('names the tables of %%sql cells by source, skipping strings and comments', () => {
    const cells = [
      {
        cell_type: 'code',
        source:
          "%%sql orders\nSELECT o.id FROM Orders o JOIN sales.customers c ON c.id = o.cid\n-- from nowhere\nWHERE note <> 'from x'"
      },
      {
        cell_type: 'code',
        source: '%%sql pg_rows --source pg\nselect * from "Events"'
      },
      { cell_type: 'code', source: '%%upload out\norders' },
      { cell_type: 'code', source: 'df = spark.sql("select * from hidden")' },
      { cell_type: 'markdown', source: '%%sql x\nselect * from md' }
    ];
    expect(sqlInputs(cells)).toEqual([
      'pg."Events"',
      'warehouse.orders',
      'warehouse.sales.customers'
    ]);
  });
});
