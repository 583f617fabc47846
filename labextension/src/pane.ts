/**
 * The debug pane: a right-side panel that follows the active notebook and shows its schedules
 * (pause and resume), their recent runs and a run's record (per-cell status and time, the
 * failing cell and its traceback, the log, inputs and outputs, the executed notebook), with run
 * now, retry and cancel. The open run, while it goes on, follows its server-sent events; the
 * lists are refreshed every 10 s.
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
import { lineageLines } from './lineage';
import { outsideText, Repository } from './repo';
import { itemText } from './schedule';
import { cellProgress, SseEvent } from './sse';

/** How often the lists are asked for again (the open run follows its events). */
export const LIST_REFRESH_MS = 10_000;

/** What the pane asks of JupyterLab. */
export interface PaneHooks {
  /** Opens a run's executed notebook, read-only, in the main area. */
  openNotebook: (run: string, title: string) => void;
}

/** The open run's event stream while it goes on. */
interface Live {
  id: string;
  abort: AbortController;
  log: string[];
  /** A detail refresh is due (cells finished): asked at most every 500 ms. */
  due: number | null;
}

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
  private again = false;
  private live: Live | null = null;
  /** When a run's stream last ended without its final status (not followed again at once). */
  private ended: { id: string; at: number } | null = null;

  constructor(
    private readonly api: SchedulerApi,
    private readonly repo: Repository,
    private readonly hooks: PaneHooks
  ) {
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

  /** Follows a notebook (its contents path, relative to Jupyter's root). */
  setNotebook(path: string | null): void {
    if (path === this.notebook) {
      return;
    }
    this.notebook = path;
    this.selected = null;
    this.stopLive();
    fill(this.detail);
    void this.refresh();
  }

  protected onAfterAttach(): void {
    this.timer = window.setInterval(() => void this.refresh(), LIST_REFRESH_MS);
    void this.refresh();
  }

  protected onBeforeDetach(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    this.stopLive();
  }

  dispose(): void {
    this.stopLive();
    super.dispose();
  }

  private stopLive(): void {
    if (this.live) {
      this.live.abort.abort();
      if (this.live.due !== null) {
        window.clearTimeout(this.live.due);
      }
      this.live = null;
    }
  }

  /** Follows a run that goes on through its events, until its final status. */
  private async follow(id: string): Promise<void> {
    this.stopLive();
    const live: Live = {
      id,
      abort: new AbortController(),
      log: [],
      due: null
    };
    this.live = live;
    let problem: string | null = null;
    try {
      await this.api.runEvents(
        id,
        event => this.onRunEvent(live, event),
        live.abort.signal
      );
    } catch (error) {
      problem = (error as Error).message;
    }
    if (live.abort.signal.aborted) {
      return;
    }
    if (this.live === live) {
      this.live = null;
    }
    this.ended = { id, at: Date.now() };
    if (problem !== null) {
      // The lists' refresh goes on following it, more slowly.
      this.detail
        .querySelector('[data-run-live]')
        ?.replaceChildren(`live updates stopped: ${problem}`);
      return;
    }
    // The stream ended after the final status: the record as it was left.
    await this.refresh();
  }

  private onRunEvent(live: Live, event: SseEvent): void {
    if (this.live !== live) {
      return;
    }
    const shown = this.detail.querySelector<HTMLElement>(
      `[data-run-detail="${live.id}"]`
    );
    if (event.event === 'log') {
      live.log.push(event.data);
      const log = shown?.querySelector<HTMLElement>('.tf-log');
      if (log) {
        log.textContent = live.log.join('\n');
      }
      const progress = cellProgress(event.data);
      if (progress) {
        shown
          ?.querySelector('[data-run-progress]')
          ?.replaceChildren(`cell ${progress.done}/${progress.total} done`);
        if (live.due === null) {
          live.due = window.setTimeout(() => {
            live.due = null;
            if (this.live === live && this.selected === live.id) {
              void this.showRun(live.id);
            }
          }, 500);
        }
      }
    } else if (event.event === 'status') {
      const run = JSON.parse(event.data) as Run;
      this.notifyFailures([run]);
      void this.refresh();
    } else if (event.event === 'error') {
      shown
        ?.querySelector('[data-run-live]')
        ?.replaceChildren(`live updates stopped: ${event.data}`);
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
    if (!this.notebook || !this.isAttached) {
      this.render();
      return;
    }
    if (this.refreshing) {
      // Asked during a refresh (a status event): once more when it is done.
      this.again = true;
      return;
    }
    this.refreshing = true;
    const notebook = this.notebook;
    try {
      const located = await this.repo.locate(notebook);
      if (located.path === null) {
        fill(
          this.body,
          h(
            'p',
            { class: 'tf-problem', 'data-state': 'outside' },
            outsideText(notebook, located.info)
          )
        );
        return;
      }
      const schedules = await this.api.schedules(located.path);
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
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
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
    const pause = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button jp-mod-styled tf-button',
        'data-action': schedule.paused ? 'resume' : 'pause',
        title: schedule.paused
          ? 'Resume: the latest time missed runs once'
          : 'Pause: no scheduled run starts until it is resumed'
      },
      schedule.paused ? 'Resume' : 'Pause'
    );
    pause.addEventListener(
      'click',
      () => void this.setPaused(schedule.name, !schedule.paused)
    );
    const state = schedule.problem
      ? `not running: ${schedule.problem}`
      : schedule.paused
        ? 'paused: no scheduled run starts'
        : `next run ${when(schedule.next_run)}`;
    return h(
      'section',
      {
        class: 'tf-schedule-card',
        'data-schedule': schedule.name,
        'data-paused': String(schedule.paused)
      },
      h(
        'h3',
        {},
        schedule.name,
        schedule.paused
          ? h('span', { class: 'tf-badge', 'data-badge': 'paused' }, 'paused')
          : null
      ),
      h('div', { class: 'tf-inline tf-schedule-actions' }, runNow, pause),
      h(
        'p',
        { class: 'tf-hint', 'data-schedule-state': true },
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

  /** The open run's last `cell N/T` line, as the live line says it. */
  private progressText(id: string): string {
    const log = this.live?.id === id ? this.live.log : [];
    for (let i = log.length - 1; i >= 0; i--) {
      const progress = cellProgress(log[i]);
      if (progress) {
        return `cell ${progress.done}/${progress.total} done`;
      }
    }
    return 'following the run…';
  }

  private async setPaused(name: string, paused: boolean): Promise<void> {
    try {
      await this.api.pause(name, paused);
      await this.refresh();
    } catch (error) {
      Notification.error(`Tiffin: ${(error as Error).message}`, {
        autoClose: 8000
      });
    }
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
      const live = this.live?.id === id ? this.live : null;
      log = live ? live.log.join('\n') : await this.api.log(id).catch(() => '');
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
    if (id !== this.selected) {
      return; // another run was opened meanwhile
    }
    const run = detail.run;
    const going = !FINAL.has(run.status);
    const recentlyEnded =
      this.ended?.id === id && Date.now() - this.ended.at < LIST_REFRESH_MS;
    if (going && this.live?.id !== id && !recentlyEnded) {
      void this.follow(id);
    } else if (!going && this.live && this.live.id !== id) {
      this.stopLive();
    }
    const buttons: HTMLElement[] = [];
    if (run.started_at) {
      const open = h(
        'button',
        {
          type: 'button',
          class: 'jp-Button jp-mod-styled tf-button',
          'data-action': 'open-notebook',
          title: 'The executed notebook, read-only, in a new tab'
        },
        'Open executed notebook'
      );
      open.addEventListener('click', () =>
        this.hooks.openNotebook(
          run.id,
          `${run.schedule} ${run.logical_time} (executed)`
        )
      );
      buttons.push(open);
    }
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
        h('h3', {}, `Run ${run.logical_time}`),
        h('div', { class: 'tf-inline tf-run-actions' }, ...buttons),
        h(
          'p',
          {},
          h('span', { class: `tf-status tf-status-${run.status}` }, run.status),
          ` · ${run.trigger} · attempt ${run.attempt} · ${duration(run)}`,
          typeof detail.manifest?.purpose === 'string'
            ? h(
                'span',
                { 'data-purpose': detail.manifest.purpose },
                ` · purpose ${detail.manifest.purpose}`
              )
            : null
        ),
        going
          ? h(
              'p',
              { class: 'tf-hint', 'data-run-live': true, role: 'status' },
              'live: ',
              h('span', { 'data-run-progress': true }, this.progressText(id))
            )
          : null,
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
        h('h4', {}, 'Lineage'),
        detail.lineage?.length
          ? h(
              'ul',
              { 'data-lineage': true },
              ...lineageLines(detail.lineage).map(line =>
                h('li', { class: 'tf-mono' }, line)
              )
            )
          : h('p', { class: 'tf-hint' }, 'No lineage events.'),
        h('h4', {}, 'Log'),
        h('pre', { class: 'tf-mono tf-log' }, log || '(empty)')
      )
    );
  }
}
