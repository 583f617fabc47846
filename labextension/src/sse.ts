/**
 * Server-sent events read from a fetch body (so the request carries Jupyter's own
 * authentication, token header included, like every other API call), and what the events of a
 * trial run's log say about its progress. Unit-tested.
 */

import { createParser, EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  /** The `event:` field (`message` when the event has none). */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
}

/**
 * The events of a `text/event-stream` body fed in chunks as they arrive, in any split; the format
 * (WHATWG HTML, "server-sent events") is read by eventsource-parser (3.x: 4.x needs Node 22).
 */
export class SseParser {
  private completed: SseEvent[] = [];
  private readonly parser = createParser({
    onEvent: (message: EventSourceMessage) =>
      this.completed.push({
        event: message.event ?? 'message',
        data: message.data
      })
  });

  /** The events `chunk` completes. */
  feed(chunk: string): SseEvent[] {
    this.parser.feed(chunk);
    const events = this.completed;
    this.completed = [];
    return events;
  }
}

export interface CellProgress {
  /** Cells finished (1-based number of the last one done). */
  done: number;
  total: number;
}

/** `runner: cell 2/5 done in 0.31s (elapsed 1.2s)`: the runner's progress line, else null. */
export function cellProgress(line: string): CellProgress | null {
  const match = /^runner: cell (\d+)\/(\d+) done\b/.exec(line.trim());
  if (!match) {
    return null;
  }
  const done = Number(match[1]);
  const total = Number(match[2]);
  return total > 0 && done <= total ? { done, total } : null;
}

/** The phases of a submission, in order, as the Create review step names them. */
export const PHASES = ['trial', 'branch', 'push', 'pull_request'] as const;
export type Phase = (typeof PHASES)[number] | 'done';

export const PHASE_TEXT: Record<Phase, string> = {
  trial: 'Trial run (sandboxed, uploads rolled back)',
  branch: 'Creating the review branch',
  push: 'Pushing the branch',
  pull_request: 'Opening the pull request',
  done: 'Done'
};

/** What the Create review step shows while a submission runs, folded from its events. */
export interface SubmissionProgress {
  phase: Phase;
  progress: CellProgress | null;
  log: string[];
}

export function startProgress(phase: Phase = 'trial'): SubmissionProgress {
  return { phase, progress: null, log: [] };
}

/**
 * The state after one event of `GET /api/v1/submissions/{id}/events` (`phase`, `log`;
 * `result` and anything else leave it as it is: the caller handles the end).
 */
export function foldSubmissionEvent(
  state: SubmissionProgress,
  event: SseEvent
): SubmissionProgress {
  if (event.event === 'phase') {
    try {
      const phase = (JSON.parse(event.data) as { phase?: unknown }).phase;
      if (typeof phase === 'string' && phase in PHASE_TEXT) {
        return { ...state, phase: phase as Phase };
      }
    } catch {
      // not JSON: ignored
    }
    return state;
  }
  if (event.event === 'log') {
    return {
      ...state,
      progress: cellProgress(event.data) ?? state.progress,
      log: [...state.log, event.data]
    };
  }
  return state;
}
