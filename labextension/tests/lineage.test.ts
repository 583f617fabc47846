import { describe, expect, it } from 'vitest';

import { lineageLines } from '../src/lineage';

const complete = {
  eventType: 'COMPLETE',
  eventTime: '2026-11-26T06:00:03.000000Z',
  run: { runId: 'r', facets: { tiffin: { purpose: 'reporting' } } },
  inputs: [{ namespace: 'sqlite:///w.db', name: 'orders' }],
  outputs: [
    {
      namespace: 'sqlite:///w.db',
      name: 'daily_sales',
      outputFacets: { outputStatistics: { rowCount: 12 } }
    }
  ]
};

describe('lineageLines', () => {
  it('tells each event with what it read and wrote', () => {
    const start = {
      eventType: 'START',
      eventTime: '2026-11-26T06:00:00Z',
      inputs: [],
      outputs: []
    };
    expect(lineageLines([start, complete])).toEqual([
      'START 2026-11-26T06:00:00Z',
      'COMPLETE 2026-11-26T06:00:03.000000Z · read sqlite:///w.db/orders · ' +
        'wrote sqlite:///w.db/daily_sales (12 rows)'
    ]);
  });
  it('survives events of another shape', () => {
    expect(lineageLines([{ inputs: 'x', outputs: [null, 3] }])).toEqual(['?']);
  });
});
