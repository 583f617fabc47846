/**
 * The scheduler's HTTP API (docs/api/openapi.json), reached through jupyter-server-proxy at
 * `<base_url>tiffin-scheduler/api/v1/...` behind Jupyter's own authentication.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { SseEvent, SseParser } from './sse';

export type RunStatus =
  | 'queued'
  | 'waiting'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'refused'
  | 'cancelled'
  | 'expired'
  | 'interrupted';

export const FINAL: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'failed',
  'refused',
  'cancelled',
  'expired',
  'interrupted'
]);

export interface Run {
  id: string;
  schedule: string;
  logical_time: string;
  trigger: string;
  attempt: number;
  status: RunStatus;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  message: string | null;
  failing_cell: number | null;
}

export interface Schedule {
  name: string;
  spec: string;
  notebook: string;
  active: boolean;
  paused: boolean;
  cadence: string | null;
  timezone: string | null;
  next_run: string | null;
  latest_run: Run | null;
  problem: string | null;
}

export interface CellTiming {
  cell: number;
  status: string;
  seconds: number | null;
}

export type Json = Record<string, unknown>;

export interface RunDetail {
  run: Run;
  /** The runner's manifest (null until it is written): its `purpose` among the rest. */
  manifest: Json | null;
  cells: CellTiming[];
  inputs: Json[];
  outputs: Json[];
  failing_cell: number | null;
  error: { ename: string; evalue: string; traceback: string[] } | null;
  /** The run's OpenLineage events (none before it ends, or without a record). */
  lineage?: Json[];
}

export interface Preview {
  schedulable: boolean;
  spec: { path: string; text: string; name: string };
  notebook: string;
  dag: { path: string; text: string };
  lint: { eligible: boolean; findings: Json[] };
  policy: Json;
  inputs: Json[];
  outputs: Json[];
  first_run: { logical_date: string; parameters: Json };
}

export interface Submission {
  created: boolean;
  branch?: string;
  commit?: string;
  files?: string[];
  pull_request?: { url: string; number: number } | null;
  publish_error?: string | null;
  test_plan?: string;
  trial?: Json;
  error?: string;
  preview?: Preview;
}

/** `GET /api/v1/info`: where the repository is, and the purposes its policy knows. */
export interface Info {
  repo_root: string;
  branch: string;
  purposes: string[];
  /** Asked with a root: where it is in the repository (null: outside). */
  jupyter_root?: string | null;
}

/** `POST /api/v1/submissions` and `GET /api/v1/submissions/{id}`: a submission under way. */
export interface SubmissionState {
  id: string;
  spec: string;
  state: 'running' | 'done';
  phase: string;
  /** When done: 201 (review created), 422 (trial failed or refused) or 500. */
  status: number | null;
  /** When done: what the submission answered (created or not). */
  result: Submission | null;
}

/** An answer of the API that is not a success, with its `{"error": ...}` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null
  ) {
    super(message);
  }
}

/** The API could not be reached at all (the proxy's own error pages included). */
export class Unreachable extends Error {}

/** An answer that is not the API's: jupyter-server-proxy's HTML page when `runner serve` cannot start. */
function fromTheProxy(response: Response): Unreachable {
  return new Unreachable(
    `the scheduler is not reachable (HTTP ${response.status} from the proxy)`
  );
}

/** The API's JSON answer to a failed request, `{"error": ...}`, as an ApiError. */
async function apiError(response: Response): Promise<ApiError> {
  const body = (await response.json()) as unknown;
  const message =
    typeof body === 'object' && body !== null && 'error' in body
      ? String((body as { error: unknown }).error)
      : `HTTP ${response.status}`;
  return new ApiError(response.status, message, body);
}

export class SchedulerApi {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  private url(path: string): string {
    return URLExt.join(
      this.settings.baseUrl,
      'tiffin-scheduler',
      'api/v1',
      path
    );
  }

  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        this.url(path),
        init,
        this.settings
      );
    } catch (error) {
      throw new Unreachable(`the scheduler is not reachable: ${String(error)}`);
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (
      !type.startsWith('application/json') &&
      !type.startsWith('text/plain')
    ) {
      throw fromTheProxy(response);
    }
    if (type.startsWith('text/plain')) {
      const text = await response.text();
      if (!response.ok) {
        throw new ApiError(response.status, text);
      }
      return text as unknown as T;
    }
    if (!response.ok) {
      throw await apiError(response);
    }
    return (await response.json()) as T;
  }

  private post<T>(path: string, body?: Json): Promise<T> {
    return this.request<T>(path, {
      method: 'POST',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined
    });
  }

  schedules(notebook: string): Promise<Schedule[]> {
    return this.request(`schedules?notebook=${encodeURIComponent(notebook)}`);
  }

  runs(schedule: string): Promise<Run[]> {
    return this.request(`schedules/${encodeURIComponent(schedule)}/runs`);
  }

  run(id: string): Promise<RunDetail> {
    return this.request(`runs/${encodeURIComponent(id)}`);
  }

  log(id: string): Promise<string> {
    return this.request(`runs/${encodeURIComponent(id)}/log`);
  }

  runNow(schedule: string): Promise<Run> {
    return this.post(`schedules/${encodeURIComponent(schedule)}/run`);
  }

  cancel(id: string): Promise<Run> {
    return this.post(`runs/${encodeURIComponent(id)}/cancel`);
  }

  retry(id: string): Promise<Run> {
    return this.post(`runs/${encodeURIComponent(id)}/retry`);
  }

  preview(spec: string): Promise<Preview> {
    return this.post('preview', { spec });
  }

  /** With `jupyterRoot`, also where that directory is in the repository. */
  info(jupyterRoot = ''): Promise<Info> {
    return this.request(
      jupyterRoot
        ? `info?jupyter_root=${encodeURIComponent(jupyterRoot)}`
        : 'info'
    );
  }

  pause(schedule: string, paused: boolean): Promise<Schedule> {
    return this.post(`schedules/${encodeURIComponent(schedule)}/pause`, {
      paused
    });
  }

  /** The run's executed notebook (nbformat 4 JSON; partial while it runs). */
  notebook(id: string): Promise<Json> {
    return this.request(`runs/${encodeURIComponent(id)}/notebook`);
  }

  /**
   * Starts a submission (trial run, review branch, push, pull request). A schedule that cannot
   * run is refused at once: a 422 with `created: false`, returned as a finished submission.
   */
  async submit(spec: string): Promise<SubmissionState> {
    try {
      return await this.post<SubmissionState>('submissions', { spec });
    } catch (error) {
      if (
        error instanceof ApiError &&
        error.status === 422 &&
        typeof error.body === 'object' &&
        error.body !== null &&
        'created' in error.body
      ) {
        return {
          id: '',
          spec,
          state: 'done',
          phase: 'done',
          status: 422,
          result: error.body as Submission
        };
      }
      throw error;
    }
  }

  submission(id: string): Promise<SubmissionState> {
    return this.request(`submissions/${encodeURIComponent(id)}`);
  }

  runEvents(
    id: string,
    onEvent: (event: SseEvent) => void,
    signal?: AbortSignal
  ): Promise<void> {
    return this.events(
      `runs/${encodeURIComponent(id)}/events`,
      onEvent,
      signal
    );
  }

  submissionEvents(
    id: string,
    onEvent: (event: SseEvent) => void,
    signal?: AbortSignal
  ): Promise<void> {
    return this.events(
      `submissions/${encodeURIComponent(id)}/events`,
      onEvent,
      signal
    );
  }

  /**
   * Reads a server-sent event stream to its end, calling `onEvent` as events arrive. It is a
   * fetch through ServerConnection rather than an EventSource: the request carries what every
   * other call of the extension carries (Jupyter's cookie, and its token as an `Authorization`
   * header when the page has one), and an error status is read as the API's `{"error": ...}`.
   * `Accept: text/event-stream` is what makes jupyter-server-proxy pass the body on as it comes.
   * Resolves when the stream ends (or `signal` aborts it).
   */
  async events(
    path: string,
    onEvent: (event: SseEvent) => void,
    signal?: AbortSignal
  ): Promise<void> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        this.url(path),
        { headers: { Accept: 'text/event-stream' }, signal, cache: 'no-store' },
        this.settings
      );
    } catch (error) {
      if (signal?.aborted) {
        return;
      }
      throw new Unreachable(`the scheduler is not reachable: ${String(error)}`);
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (!response.ok || !type.startsWith('text/event-stream')) {
      throw type.startsWith('application/json')
        ? await apiError(response)
        : fromTheProxy(response);
    }
    if (!response.body) {
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        for (const event of parser.feed(
          decoder.decode(value, { stream: true })
        )) {
          onEvent(event);
        }
      }
    } catch (error) {
      if (!signal?.aborted) {
        throw error;
      }
    } finally {
      reader.releaseLock();
    }
  }
}
