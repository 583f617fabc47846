/**
 * The scheduler's HTTP API (docs/api/openapi.json), reached through jupyter-server-proxy at
 * `<base_url>tiffin-scheduler/api/v1/...` behind Jupyter's own authentication.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

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
  cells: CellTiming[];
  inputs: Json[];
  outputs: Json[];
  failing_cell: number | null;
  error: { ename: string; evalue: string; traceback: string[] } | null;
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
      // jupyter-server-proxy answers with an HTML page when `runner serve` cannot start.
      throw new Unreachable(
        `the scheduler is not reachable (HTTP ${response.status} from the proxy)`
      );
    }
    if (type.startsWith('text/plain')) {
      const text = await response.text();
      if (!response.ok) {
        throw new ApiError(response.status, text);
      }
      return text as unknown as T;
    }
    const body = (await response.json()) as unknown;
    if (!response.ok) {
      const message =
        typeof body === 'object' && body !== null && 'error' in body
          ? String((body as { error: unknown }).error)
          : `HTTP ${response.status}`;
      throw new ApiError(response.status, message, body);
    }
    return body as T;
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

  /** The submission, created or not (a failed trial run is a 422 with `created: false`). */
  async submit(spec: string): Promise<Submission> {
    try {
      return await this.post<Submission>('submit', { spec });
    } catch (error) {
      if (
        error instanceof ApiError &&
        typeof error.body === 'object' &&
        error.body !== null &&
        'created' in error.body
      ) {
        return error.body as Submission;
      }
      throw error;
    }
  }
}
