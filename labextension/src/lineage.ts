/**
 * A run's OpenLineage events (as the API gives them from the run's record) told in one line
 * each: what happened when, and which datasets were read and written.
 */

import { Json } from './api';

interface Dataset {
  namespace?: unknown;
  name?: unknown;
  outputFacets?: { outputStatistics?: { rowCount?: unknown } };
}

function datasets(value: unknown): Dataset[] {
  return Array.isArray(value)
    ? value.filter((d): d is Dataset => typeof d === 'object' && d !== null)
    : [];
}

/** `namespace/name`, with the rows written when the event counts them. */
function datasetText(dataset: Dataset): string {
  const name = [dataset.namespace, dataset.name]
    .filter(part => typeof part === 'string' && part !== '')
    .join('/');
  const rows = dataset.outputFacets?.outputStatistics?.rowCount;
  return typeof rows === 'number' ? `${name} (${rows} rows)` : name;
}

/** "COMPLETE 2026-11-26T06:00:03Z · read a, b · wrote c (12 rows)" for each event. */
export function lineageLines(events: Json[]): string[] {
  return events.map(event => {
    const parts = [
      `${String(event.eventType ?? '?')} ${String(event.eventTime ?? '')}`.trim()
    ];
    const read = datasets(event.inputs).map(datasetText);
    const wrote = datasets(event.outputs).map(datasetText);
    if (read.length) {
      parts.push(`read ${read.join(', ')}`);
    }
    if (wrote.length) {
      parts.push(`wrote ${wrote.join(', ')}`);
    }
    return parts.join(' · ');
  });
}
