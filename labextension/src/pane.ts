/**
 * The debug pane: a right-side panel that follows the active notebook and shows its schedules,
 * their recent runs and a run's record (per-cell status and time, the failing cell and its
 * traceback, the log, inputs and outputs), with run now, retry and cancel.
 */

import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ansiToHtml } from './ansi';
import {
  FINAL,
  Json,
  Run,
  RunDetail,
  Schedule,
  SchedulerApi,
  Unreachable
} from './api';
import { fill, h } from './dom';
import { itemText } from './schedule';

/** "1 min 5 s", "0.4 s": a run's duration from its start and end. */
export function duration(run: Run, now: Date = new Date()): string {
  if (!run.started_at) {
    return '';
  }
  const end = run.finished_at ? Date.parse(run.finished_at) : now.getTime();
  const seconds = Math.max(0, (end - Date.parse(run.started_at)) / 1000);
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function when(text: string | null): string {
  if (!text) {
    return '';
  }
  const date = new Date(text);
  return isNaN(date.getTime()) ? text : date.toLocaleString();
}

export class DebugPane extends Widget {
  private notebook: string | null = null;
  private selected: string | null = null;
  private timer: number | null = null;
  private readonly seen = new Map<string, string>();
  private readonly body: HTMLElement;
  private readonly detail: HTMLElement;
  private refreshing = false;

  constructor(private readonly api: SchedulerApi) {
    super();
    this.id = 'tiffin-debug-pane';
    this.addClass('tf-pane');
    this.title.caption = 'Tiffin: schedules and runs';
    this.body = h('div', { class: 'tf-pane-body', 'aria-live': 'polite' });
    this.detail = h('div', { class: 'tf-run-detail' });
    const refresh = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button jp-mod-styled tf-button',
        'data-action': 'refresh'
      },
      'Refresh'
    );
    refresh.addEventListener('click', () => void this.refresh());
    this.node.append(
      h(
        'div',
        { class: 'tf-pane-head' },
        h('h2', {}, 'Schedules and runs'),
        refresh
      ),
      this.body,
      this.detail
    );
    this.render();
  }

  /** Follows a notebook (its path relative to the server root, i.e. the repository). */
  setNotebook(path: string | null): void {
    if (path === this.notebook) {
      return;
    }
    this.notebook = path;
    this.selected = null;
    fill(this.detail);
    void this.refresh();
  }

  protected onAfterAttach(): void {
    this.timer = window.setInterval(() => void this.refresh(), 3000);
    void this.refresh();
  }

  protected onBeforeDetach(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }

  private render(): void {
    if (!this.notebook) {
      fill(
        this.body,
        h(
          'p',
          { class: 'tf-hint', 'data-state': 'no-notebook' },
          'Open a notebook to see its schedules and runs.'
        )
      );
    }
  }

  async refresh(): Promise<void> {
    if (!this.notebook || this.refreshing || !this.isAttached) {
      this.render();
      return;
    }
    this.refreshing = true;
    const notebook = this.notebook;
    try {
      const schedules = await this.api.schedules(notebook);
      const runs = await Promise.all(schedules.map(s => this.api.runs(s.name)));
      if (notebook !== this.notebook) {
        return;
      }
      this.notifyFailures(runs.flat());
      if (!schedules.length) {
        fill(
          this.body,
          h(
            'p',
            { class: 'tf-hint', 'data-state': 'empty' },
            'No schedule of this notebook is on the main branch yet. Use Schedule in the notebook toolbar, then merge its review branch.'
          )
        );
      } else {
        fill(
          this.body,
          ...schedules.map((s, i) => this.scheduleView(s, runs[i]))
        );
      }
      if (this.selected) {
        await this.showRun(this.selected);
      }
    } catch (error) {
      fill(
        this.body,
        h(
          'div',
          {
            class: 'tf-problem',
            role: 'alert',
            'data-state': error instanceof Unreachable ? 'unreachable' : 'error'
          },
          error instanceof Unreachable
            ? 'Runner not reachable: '
            : 'The scheduler answered with an error: ',
          (error as Error).message
        )
      );
    } finally {
      this.refreshing = false;
    }
  }

  /** A JupyterLab notification for each run seen to fail (not for those failed before). */
  private notifyFailures(runs: Run[]): void {
    for (const run of runs) {
      const before = this.seen.get(run.id);
      if (
        before !== undefined &&
        before !== run.status &&
        run.status === 'failed'
      ) {
        Notification.error(
          `Tiffin: ${run.schedule} failed${run.failing_cell ? ` in cell ${run.failing_cell}` : ''}`,
          { autoClose: 8000 }
        );
      }
      this.seen.set(run.id, run.status);
    }
  }

  private scheduleView(schedule: Schedule, runs: Run[]): HTMLElement {
    const runNow = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button jp-mod-styled tf-button',
        'data-action': 'run-now'
      },
      'Run now'
    );
    runNow.addEventListener(
      'click',
      () => void this.act(() => this.api.runNow(schedule.name))
    );
    const state = schedule.problem
      ? `not running: ${schedule.problem}`
      : schedule.paused
        ? 'paused'
        : `next run ${when(schedule.next_run)}`;
    return h(
      'section',
      { class: 'tf-schedule-card', 'data-schedule': schedule.name },
      h('div', { class: 'tf-pane-head' }, h('h3', {}, schedule.name), runNow),
      h(
        'p',
        { class: 'tf-hint' },
        `${schedule.cadence ?? ''} ${schedule.timezone ?? ''} · ${state}`
      ),
      runs.length
        ? h(
            'table',
            { class: 'tf-table tf-runs' },
            h(
              'tr',
              {},
              h('th', {}, 'status'),
              h('th', {}, 'trigger'),
              h('th', {}, 'started'),
              h('th', {}, 'duration')
            ),
            ...runs.slice(0, 10).map(run => this.runRow(run))
          )
        : h('p', { class: 'tf-hint', 'data-state': 'no-runs' }, 'No runs yet.')
    );
  }

  private runRow(run: Run): HTMLElement {
    const row = h(
      'tr',
      {
        class: 'tf-run-row',
        tabindex: '0',
        'data-run': run.id,
        'data-status': run.status,
        'aria-selected': String(run.id === this.selected)
      },
      h(
        'td',
        {},
        h('span', { class: `tf-status tf-status-${run.status}` }, run.status)
      ),
      h('td', {}, run.trigger),
      h('td', {}, when(run.started_at ?? run.queued_at)),
      h('td', {}, duration(run))
    );
    const open = (): void => {
      this.selected = run.id;
      void this.showRun(run.id);
    };
    row.addEventListener('click', open);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    });
    return row;
  }

  private async act(action: () => Promise<Run>): Promise<void> {
    try {
      const run = await action();
      this.selected = run.id;
      await this.refresh();
    } catch (error) {
      Notification.error(`Tiffin: ${(error as Error).message}`, {
        autoClose: 8000
      });
    }
  }

  async showRun(id: string): Promise<void> {
    let detail: RunDetail;
    let log = '';
    try {
      detail = await this.api.run(id);
      log = await this.api.log(id).catch(() => '');
    } catch (error) {
      fill(
        this.detail,
        h(
          'div',
          { class: 'tf-problem', role: 'alert' },
          (error as Error).message
        )
      );
      return;
    }
    const run = detail.run;
    const buttons: HTMLElement[] = [];
    if (FINAL.has(run.status)) {
      const retry = h(
        'button',
        {
          type: 'button',
          class: 'jp-Button jp-mod-styled tf-button',
          'data-action': 'retry'
        },
        'Retry'
      );
      retry.addEventListener(
        'click',
        () => void this.act(() => this.api.retry(run.id))
      );
      buttons.push(retry);
    } else {
      const cancel = h(
        'button',
        {
          type: 'button',
          class: 'jp-Button jp-mod-styled tf-button',
          'data-action': 'cancel'
        },
        'Cancel'
      );
      cancel.addEventListener(
        'click',
        () => void this.act(() => this.api.cancel(run.id))
      );
      buttons.push(cancel);
    }
    const traceback = h('pre', {
      class: 'tf-mono tf-traceback',
      'data-traceback': true
    });
    if (detail.error) {
      traceback.innerHTML = ansiToHtml(
        detail.error.traceback.join('\n') ||
          `${detail.error.ename}: ${detail.error.evalue}`
      );
    }
    const list = (items: Json[]): HTMLElement =>
      items.length
        ? h(
            'ul',
            {},
            ...items.map(i => h('li', { class: 'tf-mono' }, itemText(i)))
          )
        : h('p', { class: 'tf-hint' }, 'None.');
    fill(
      this.detail,
      h(
        'section',
        { 'data-run-detail': run.id, 'data-status': run.status },
        h(
          'div',
          { class: 'tf-pane-head' },
          h('h3', {}, `Run ${run.logical_time}`),
          ...buttons
        ),
        h(
          'p',
          {},
          h('span', { class: `tf-status tf-status-${run.status}` }, run.status),
          ` · ${run.trigger} · attempt ${run.attempt} · ${duration(run)}`
        ),
        run.message ? h('p', { class: 'tf-hint' }, run.message) : null,
        detail.failing_cell !== null
          ? h(
              'div',
              { class: 'tf-bad', role: 'alert' },
              h(
                'p',
                { 'data-failing-cell': String(detail.failing_cell) },
                `Failed in cell ${detail.failing_cell}${detail.error ? `: ${detail.error.ename}: ${detail.error.evalue}` : ''}`
              ),
              traceback
            )
          : null,
        h('h4', {}, 'Cells'),
        detail.cells.length
          ? h(
              'table',
              { class: 'tf-table' },
              h(
                'tr',
                {},
                h('th', {}, 'cell'),
                h('th', {}, 'status'),
                h('th', {}, 'seconds')
              ),
              ...detail.cells.map(c =>
                h(
                  'tr',
                  { 'data-cell': String(c.cell) },
                  h('td', {}, String(c.cell)),
                  h('td', {}, c.status),
                  h('td', {}, c.seconds === null ? '' : c.seconds.toFixed(2))
                )
              )
            )
          : h('p', { class: 'tf-hint' }, 'No cell has run yet.'),
        h('h4', {}, 'Inputs'),
        list(detail.inputs),
        h('h4', {}, 'Outputs'),
        list(detail.outputs),
        h('h4', {}, 'Log'),
        h('pre', { class: 'tf-mono tf-log' }, log || '(empty)')
      )
    );
  }
}
