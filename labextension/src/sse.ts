/**
 * Server-sent events read from a fetch body (so the request carries Jupyter's own
 * authentication, token header included, like every other API call), and what the events of a
 * trial run's log say about its progress. Pure: unit-tested.
 */

export interface SseEvent {
  /** The `event:` field (`message` when the event has none). */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, "server-sent events"):
 * feed it chunks as they arrive, in any split; it returns the events completed by each chunk.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private sawData = false;

  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (
        !match ||
        (match[0] === '\r' && match.index === this.buffer.length - 1)
      ) {
        break;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) {
        events.push(event);
      }
    }
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      // A blank line dispatches the event (one without data is dropped, as browsers do).
      const event = this.sawData
        ? { event: this.event || 'message', data: this.data.join('\n') }
        : null;
      this.event = '';
      this.data = [];
      this.sawData = false;
      return event;
    }
    if (line.startsWith(':')) {
      return null; // a comment (keep-alive)
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this.event = value;
    } else if (field === 'data') {
      this.data.push(value);
      this.sawData = true;
    }
    return null;
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
