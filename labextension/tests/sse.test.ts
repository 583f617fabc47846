import { describe, expect, it } from 'vitest';

import {
  cellProgress,
  foldSubmissionEvent,
  SseParser,
  startProgress
} from '../src/sse';

describe('SseParser', () => {
  it('parses events split across chunks anywhere', () => {
    const stream =
      'event: status\ndata: {"status":"running"}\n\n: keep-alive\n\nevent: log\ndata: runner: cell 1/2 done in 0.10s (elapsed 0.4s)\n\n';
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = new SseParser();
      const events = [
        ...parser.feed(stream.slice(0, cut)),
        ...parser.feed(stream.slice(cut))
      ];
      expect(events).toEqual([
        { event: 'status', data: '{"status":"running"}' },
        {
          event: 'log',
          data: 'runner: cell 1/2 done in 0.10s (elapsed 0.4s)'
        }
      ]);
    }
  });

  it('joins data lines, takes CRLF and CR, defaults the event name', () => {
    const parser = new SseParser();
    expect(parser.feed('data: a\r\ndata:b\r\rdata: c\r')).toEqual([
      { event: 'message', data: 'a\nb' }
    ]);
    // The lone CR at the end waits: it may be half of a CRLF.
    expect(parser.feed('\n\n')).toEqual([{ event: 'message', data: 'c' }]);
  });

  it('drops events without data and keeps an incomplete one pending', () => {
    const parser = new SseParser();
    expect(parser.feed('event: ping\n\nevent: log\ndata: half')).toEqual([]);
    expect(parser.feed('\n\n')).toEqual([{ event: 'log', data: 'half' }]);
  });
});

describe('cellProgress', () => {
  it("reads the runner's per-cell lines", () => {
    expect(
      cellProgress('runner: cell 2/5 done in 0.31s (elapsed 1.2s)')
    ).toEqual({ done: 2, total: 5 });
    expect(
      cellProgress('runner: cell 5/5 done in 1.00s (elapsed 3.0s)\n')
    ).toEqual({ done: 5, total: 5 });
  });

  it('ignores other lines', () => {
    expect(cellProgress('total 63 for 2026-11-01')).toBeNull();
    expect(cellProgress('print("runner: cell 1/2 done")')).toBeNull();
    expect(cellProgress('runner: cell 3/2 done in 0.1s')).toBeNull();
  });
});

describe('foldSubmissionEvent', () => {
  it('follows phases, progress and log lines', () => {
    let state = startProgress();
    state = foldSubmissionEvent(state, {
      event: 'log',
      data: 'runner: cell 1/3 done in 0.01s (elapsed 0.5s)'
    });
    state = foldSubmissionEvent(state, { event: 'log', data: 'hello' });
    expect(state.progress).toEqual({ done: 1, total: 3 });
    expect(state.log).toEqual([
      'runner: cell 1/3 done in 0.01s (elapsed 0.5s)',
      'hello'
    ]);
    state = foldSubmissionEvent(state, {
      event: 'phase',
      data: '{"phase": "branch"}'
    });
    expect(state.phase).toBe('branch');
    // Unknown phases, bad JSON and the result event leave it as it is.
    for (const event of [
      { event: 'phase', data: '{"phase": "nap"}' },
      { event: 'phase', data: 'not json' },
      { event: 'result', data: '{}' }
    ]) {
      expect(foldSubmissionEvent(state, event)).toBe(state);
    }
  });
});
