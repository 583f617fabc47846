/**
 * The Schedule form of a notebook, its preview and its review, in a main-area tab: the form
 * writes `<stem>.schedule.toml` next to the notebook (Jupyter's contents API), the API previews
 * it (spec, DAG, lint, policy, inputs and outputs) and submits it for review (trial run, review
 * branch, test plan).
 */

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { Contents } from '@jupyterlab/services';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import {
  ApiError,
  Json,
  Preview,
  SchedulerApi,
  Submission,
  SubmissionState,
  Unreachable
} from './api';
import { ansiToHtml } from './ansi';
import {
  CadenceChoice,
  cadenceToCron,
  DAYS,
  describeCron,
  formatInZone,
  isTimeZone,
  nextRuns,
  Preset,
  tomorrow
} from './cron';
import { fill, h } from './dom';
import { CellLike, notebookParameters, sqlInputs } from './notebook';
import { outsideText, Repository } from './repo';
import {
  checkForm,
  defaultName,
  fieldErrors,
  formParameters,
  NotifyTarget,
  ScheduleForm,
  specPath,
  specToml
} from './spec';
import {
  foldSubmissionEvent,
  PHASE_TEXT,
  PHASES,
  SseEvent,
  startProgress,
  SubmissionProgress
} from './sse';

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A labelled form row with a slot for its error. */
function row(
  label: string,
  field: string,
  control: HTMLElement,
  hint?: string
): HTMLElement {
  control.setAttribute('data-field', field);
  // The label names the control, or the first control of a group.
  const target =
    control instanceof HTMLInputElement || control instanceof HTMLSelectElement
      ? control
      : control.querySelector<HTMLElement>('input, select');
  return h(
    'div',
    { class: 'tf-row' },
    h('label', { for: target?.id }, label),
    h(
      'div',
      { class: 'tf-control' },
      control,
      hint ? h('div', { class: 'tf-hint' }, hint) : null,
      h('div', { class: 'tf-error', 'data-error-for': field, role: 'alert' })
    )
  );
}

function input(
  value = '',
  attrs: Record<string, string> = {}
): HTMLInputElement {
  const element = h('input', {
    type: 'text',
    class: 'jp-mod-styled',
    ...attrs
  });
  element.value = value;
  return element;
}

function select(
  options: Array<[string, string]>,
  value: string
): HTMLSelectElement {
  const element = h(
    'select',
    { class: 'jp-mod-styled' },
    ...options.map(([v, text]) => h('option', { value: v }, text))
  );
  element.value = value;
  return element;
}

function button(
  label: string,
  attrs: Record<string, string> = {}
): HTMLButtonElement {
  return h(
    'button',
    { type: 'button', class: 'jp-Button jp-mod-styled tf-button', ...attrs },
    label
  );
}

/**
 * Code shown read-only and highlighted by JupyterLab's own CodeMirror languages (the spec as
 * TOML, the DAG as Python), in the theme's editor colours; plain text without the registry.
 */
export function codeBlock(
  code: string,
  language: string,
  languages: IEditorLanguageRegistry | null,
  attrs: Record<string, string | boolean> = {}
): HTMLElement {
  const block = h('pre', {
    class: 'tf-mono tf-code cm-s-jupyter',
    'data-language': language,
    tabindex: '0',
    ...attrs
  });
  block.textContent = code;
  const found = languages?.findBest(language) ?? null;
  if (languages && found) {
    // Highlighted aside, then swapped in: the text is there at once either way.
    const holder = document.createElement('div');
    void languages
      .highlight(code, found, holder)
      .then(() => {
        block.replaceChildren(...holder.childNodes);
        block.dataset.highlighted = 'true';
      })
      .catch(() => undefined);
  }
  return block;
}

/** What the form needs from JupyterLab besides the notebook. */
export interface ScheduleContext {
  /** CodeMirror's languages, for the preview's spec and DAG. */
  languages: IEditorLanguageRegistry | null;
  repo: Repository;
  /** Makes the notebook's tab the current one. */
  showNotebook: () => void;
}

/** A JSON item of the API (an input, output or finding) as one line of text. */
export function itemText(item: Json): string {
  for (const key of ['table', 'name', 'dataset']) {
    if (typeof item[key] === 'string') {
      const rest = Object.entries(item)
        .filter(([k, v]) => k !== key && v !== null && typeof v !== 'object')
        .map(([k, v]) => `${k}: ${String(v)}`);
      return rest.length
        ? `${item[key] as string} (${rest.join(', ')})`
        : (item[key] as string);
    }
  }
  return JSON.stringify(item);
}

export class ScheduleWidget extends Widget {
  private readonly notebookPath: string;
  private readonly specFile: string;
  private readonly cells: CellLike[];
  private readonly formNode: HTMLElement;
  private readonly resultNode: HTMLElement;
  private readonly controls: Record<
    string,
    HTMLInputElement | HTMLSelectElement
  > = {};
  private readonly paramInputs: Array<{
    name: string;
    kind: ScheduleForm['parameters'][0]['kind'];
    input: HTMLInputElement;
  }> = [];
  private readonly inputBoxes: Array<{ table: string; box: HTMLInputElement }> =
    [];
  private readonly cadenceText: HTMLElement;
  private readonly repoNote: HTMLElement;
  private readonly purposeHint: HTMLElement;
  /** The spec's path in the repository, once the preview found the notebook there. */
  private specInRepo: string | null = null;
  private submitting: AbortController | null = null;

  constructor(
    private readonly panel: NotebookPanel,
    private readonly api: SchedulerApi,
    private readonly contents: Contents.IManager,
    private readonly context: ScheduleContext,
    private readonly now: () => Date = () => new Date()
  ) {
    super();
    this.addClass('tf-schedule');
    this.notebookPath = panel.context.path;
    this.specFile = specPath(this.notebookPath);
    const json = panel.context.model.toJSON() as { cells?: CellLike[] };
    this.cells = json.cells ?? [];
    this.id = `tiffin-schedule-${this.notebookPath}`;
    this.title.label = `Schedule ${this.notebookPath.split('/').pop()}`;
    this.title.closable = true;
    this.cadenceText = h('div', {
      class: 'tf-cadence-text',
      'aria-live': 'polite'
    });
    this.repoNote = h('div', { class: 'tf-repo-note' });
    this.purposeHint = h('div', { class: 'tf-hint', id: 'tf-purpose-hint' });
    this.formNode = this.buildForm();
    this.resultNode = h('div', { class: 'tf-result' });
    this.node.append(
      h('h2', {}, `Schedule ${this.notebookPath}`),
      h(
        'p',
        { class: 'tf-hint' },
        `Writes ${this.specFile} next to the notebook, then previews it.`
      ),
      this.repoNote,
      this.formNode,
      this.resultNode
    );
    this.updateCadence();
    void this.loadInfo();
  }

  protected onCloseRequest(msg: Parameters<Widget['onCloseRequest']>[0]): void {
    this.submitting?.abort();
    super.onCloseRequest(msg);
  }

  /**
   * The repository's purposes for the purpose field (a select when the policy lists some), and
   * a clear word when the notebook is outside the repository. Unreachable: the preview says so.
   */
  private async loadInfo(): Promise<void> {
    let located;
    try {
      located = await this.context.repo.locate(this.notebookPath);
    } catch {
      return;
    }
    if (located.path === null) {
      this.showOutside(located.info);
      return;
    }
    const purposes = located.info.purposes;
    if (!purposes.length) {
      this.purposeHint.textContent =
        "No policy in the repository lists purposes: any text (checked against the policy's labels).";
      return;
    }
    const typed = this.controls.purpose.value.trim();
    const choice = select(
      [
        ['', 'Choose a purpose…'],
        ...purposes.map((p): [string, string] => [p, p])
      ],
      purposes.includes(typed) ? typed : ''
    );
    choice.id = 'tf-purpose';
    choice.setAttribute('aria-describedby', this.purposeHint.id);
    choice.addEventListener('change', () => this.clearError(choice));
    const focused = document.activeElement === this.controls.purpose;
    this.controls.purpose.replaceWith(choice);
    if (focused) {
      choice.focus();
    }
    choice.setAttribute('data-field', 'purpose');
    this.controls.purpose = choice;
    this.purposeHint.textContent =
      "The purposes the repository's policy lists (tiffin.toml [policy.labels]).";
  }

  private showOutside(info: { repo_root: string }): void {
    fill(
      this.repoNote,
      h(
        'div',
        { class: 'tf-problem', role: 'alert', 'data-state': 'outside' },
        outsideText(this.notebookPath, {
          repo_root: info.repo_root,
          branch: '',
          purposes: []
        })
      )
    );
    const preview = this.node.querySelector<HTMLButtonElement>(
      '[data-action="preview"]'
    );
    if (preview) {
      preview.disabled = true;
    }
  }

  private buildForm(): HTMLElement {
    const c = this.controls;
    const zone = localZone();
    c.name = input(defaultName(this.notebookPath));
    c.cadence = select(
      [
        ['hourly', 'Hourly'],
        ['daily', 'Daily'],
        ['weekly', 'Weekly'],
        ['monthly', 'Monthly'],
        ['custom', 'Custom (cron)']
      ],
      'daily'
    );
    c.time = input('06:00', { placeholder: 'HH:MM', size: '6' });
    c.weekday = select(
      DAYS.map((d, i) => [String(i), d]),
      '1'
    );
    c.monthday = input('1', { type: 'number', min: '1', max: '28' });
    c.cron = input('0 6 * * *', {
      placeholder: 'minute hour day month weekday'
    });
    c.timezone = input(zone, { list: 'tf-zones' });
    c.startDate = input(tomorrow(this.now(), zone), {
      placeholder: 'YYYY-MM-DD'
    });
    c.purpose = input('', {
      placeholder: 'e.g. reporting (checked by the policy)',
      'aria-describedby': 'tf-purpose-hint'
    });
    c.owner = input('', {
      placeholder: 'e-mail of who is notified of failures'
    });
    c.notify = input('', {
      placeholder: 'e-mails or https:// webhooks, comma-separated'
    });
    c.notifyOn = select(
      [
        ['failure', 'on failure'],
        ['failure,success', 'on failure and success'],
        ['failure,slow', 'on failure and slow runs']
      ],
      'failure'
    );
    c.timeout = input('', { placeholder: 'e.g. 2h' });
    c.cellTimeout = input('', { placeholder: 'e.g. 30m' });
    c.memory = input('', { placeholder: 'e.g. 4G' });
    c.retries = input('0', { type: 'number', min: '0', max: '10' });
    c.retryDelay = input('10m');
    c.partition = input('', { placeholder: 'partition column (optional)' });
    c.triggerTimeout = input('6h');

    const zones = h('datalist', { id: 'tf-zones' });
    const supported = (
      Intl as unknown as { supportedValuesOf?: (k: string) => string[] }
    ).supportedValuesOf;
    for (const name of supported ? supported('timeZone') : ['UTC']) {
      zones.append(h('option', { value: name }));
    }

    for (const [key, control] of Object.entries(c)) {
      control.id = `tf-${key}`;
      // A field's error goes once it is edited (the next preview checks it again).
      control.addEventListener('input', () => this.clearError(control));
      control.addEventListener('input', () => this.updateCadence());
      control.addEventListener('change', () => this.updateCadence());
    }

    const parameters = notebookParameters(this.cells);
    const paramRows = formParameters(parameters).map(p => {
      const field = input(p.value, {
        'aria-label': `parameter ${p.name}`,
        'data-param': p.name
      });
      this.paramInputs.push({ name: p.name, kind: p.kind, input: field });
      return h(
        'tr',
        {},
        h('td', { class: 'tf-mono' }, p.name),
        h('td', {}, p.kind),
        h('td', {}, field)
      );
    });
    const unsupported = parameters
      .filter(p => p.kind === 'other')
      .map(p => p.name);

    const inputs = sqlInputs(this.cells);
    const inputRows = inputs.map(table => {
      const box = h('input', { type: 'checkbox', 'data-input': table });
      this.inputBoxes.push({ table, box });
      return h('label', { class: 'tf-check' }, box, ` ${table}`);
    });

    const preview = button('Preview', {
      class: 'jp-Button jp-mod-styled jp-mod-accept tf-button',
      'data-action': 'preview'
    });
    preview.addEventListener('click', () => void this.preview());

    return h(
      'form',
      { class: 'tf-form', novalidate: true },
      zones,
      h(
        'fieldset',
        {},
        h('legend', {}, 'Schedule'),
        row(
          'Name',
          'name',
          c.name,
          'letters, digits, - and _: the DAG id and review branch'
        ),
        row(
          'Cadence',
          'cadence',
          h(
            'div',
            { class: 'tf-inline' },
            c.cadence,
            c.time,
            c.weekday,
            c.monthday,
            c.cron
          )
        ),
        h('div', { class: 'tf-row' }, h('span', {}), this.cadenceText),
        row('Time zone', 'timezone', c.timezone),
        row('Start date', 'startDate', c.startDate),
        row('Purpose', 'purpose', c.purpose),
        h('div', { class: 'tf-row' }, h('span', {}), this.purposeHint),
        row('Owner', 'owner', c.owner),
        row(
          'Notify',
          'notify0',
          h('div', { class: 'tf-inline' }, c.notify, c.notifyOn)
        )
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Parameters'),
        paramRows.length
          ? h(
              'table',
              { class: 'tf-table', 'data-field': 'parameters' },
              h(
                'tr',
                {},
                h('th', {}, 'name'),
                h('th', {}, 'type'),
                h('th', {}, 'value')
              ),
              ...paramRows
            )
          : h(
              'p',
              { class: 'tf-hint' },
              'The notebook has no cell tagged `parameters`.'
            ),
        unsupported.length
          ? h(
              'p',
              { class: 'tf-hint' },
              `Kept at their defaults (not literals TOML can hold): ${unsupported.join(', ')}`
            )
          : null,
        h(
          'p',
          { class: 'tf-hint' },
          'Values may use macros such as {{ ds }} or {{ ds_add(ds, -1) }}.'
        ),
        h('div', {
          class: 'tf-error',
          'data-error-for': 'parameters',
          role: 'alert'
        })
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Data trigger'),
        inputRows.length
          ? h(
              'div',
              { 'data-field': 'trigger' },
              h(
                'p',
                { class: 'tf-hint' },
                "Wait for these inputs (from the notebook's %%sql cells):"
              ),
              ...inputRows
            )
          : h(
              'p',
              { class: 'tf-hint' },
              'The notebook has no %%sql cells: it runs on its cadence.'
            ),
        inputRows.length ? row('Partition', 'partition', c.partition) : null,
        inputRows.length
          ? row('Wait at most', 'triggerTimeout', c.triggerTimeout)
          : null,
        h('div', {
          class: 'tf-error',
          'data-error-for': 'trigger',
          role: 'alert'
        })
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Limits and retries'),
        row('Run timeout', 'timeout', c.timeout),
        row('Cell timeout', 'cellTimeout', c.cellTimeout),
        row('Memory', 'memory', c.memory),
        row('Retries', 'retries', c.retries),
        row('Retry delay', 'retryDelay', c.retryDelay)
      ),
      h('div', { class: 'tf-actions' }, preview),
      h('div', { class: 'tf-error', 'data-error-for': '', role: 'alert' })
    );
  }

  private value(name: string): string {
    return this.controls[name].value.trim();
  }

  private cadence(): CadenceChoice {
    return {
      kind: this.value('cadence') as Preset | 'custom',
      time: this.value('time'),
      weekday: Number(this.value('weekday')),
      monthday: Number(this.value('monthday')),
      cron: this.value('cron')
    };
  }

  /** The plain-language cadence and the next three runs, as the fields change. */
  private updateCadence(): void {
    const kind = this.value('cadence');
    const show = (name: string, visible: boolean): void => {
      this.controls[name].hidden = !visible;
    };
    show('time', kind !== 'custom');
    show('weekday', kind === 'weekly');
    show('monthday', kind === 'monthly');
    show('cron', kind === 'custom');
    this.controls.time.setAttribute(
      'placeholder',
      kind === 'hourly' ? 'minute, e.g. 00:15' : 'HH:MM'
    );
    const zone = this.value('timezone') || 'UTC';
    try {
      if (!isTimeZone(zone)) {
        throw new Error(`\`${zone}\` is not an IANA time zone`);
      }
      const cron = cadenceToCron(this.cadence());
      const runs = nextRuns(cron, zone, this.now(), 3, this.value('startDate'));
      fill(
        this.cadenceText,
        h('strong', { 'data-cadence-text': true }, describeCron(cron, zone)),
        h('span', { class: 'tf-mono' }, ` (${cron})`),
        h(
          'ul',
          { class: 'tf-next-runs' },
          ...runs.map(r => h('li', {}, formatInZone(r, zone)))
        )
      );
    } catch (error) {
      fill(
        this.cadenceText,
        h('span', { class: 'tf-error' }, (error as Error).message)
      );
    }
  }

  /** The form's values, or null when the browser already sees problems (shown inline). */
  private readForm(): ScheduleForm | null {
    const problems: Record<string, string> = {};
    let cron = '';
    try {
      cron = cadenceToCron(this.cadence());
    } catch (error) {
      problems.cadence = (error as Error).message;
    }
    const zone = this.value('timezone') || 'UTC';
    if (!isTimeZone(zone)) {
      problems.timezone = `\`${zone}\` is not an IANA time zone`;
    }
    const on = this.value('notifyOn').split(',') as NotifyTarget['on'];
    const notify: NotifyTarget[] = this.value('notify')
      .split(',')
      .map(t => t.trim())
      .filter(Boolean)
      .map(address => ({
        kind: /^https?:\/\//.test(address) ? 'webhook' : 'email',
        address,
        on
      }));
    const inputs = this.inputBoxes.filter(i => i.box.checked).map(i => i.table);
    const form: ScheduleForm = {
      name: this.value('name'),
      notebook: this.notebookPath.split('/').pop()!,
      owner: this.value('owner'),
      purpose: this.value('purpose'),
      cron,
      timezone: zone,
      startDate: this.value('startDate'),
      parameters: this.paramInputs.map(p => ({
        name: p.name,
        kind: p.kind,
        value: p.input.value
      })),
      trigger: inputs.length
        ? {
            inputs,
            partition: this.value('partition'),
            timeout: this.value('triggerTimeout')
          }
        : undefined,
      limits: {
        timeout: this.value('timeout'),
        cellTimeout: this.value('cellTimeout'),
        memory: this.value('memory')
      },
      retries: {
        count: Number(this.value('retries') || '0'),
        delay: this.value('retryDelay')
      },
      notify
    };
    Object.assign(problems, checkForm(form));
    this.showErrors(problems);
    return Object.keys(problems).length ? null : form;
  }

  private clearError(control: HTMLElement): void {
    const holder = control.closest<HTMLElement>('[data-field]');
    const field = holder?.dataset.field;
    if (holder && field !== undefined) {
      holder.removeAttribute('aria-invalid');
      const slot = this.node.querySelector<HTMLElement>(
        `[data-error-for="${field}"]`
      );
      if (slot) {
        slot.textContent = '';
      }
    }
  }

  private showErrors(problems: Record<string, string>): void {
    for (const slot of this.node.querySelectorAll<HTMLElement>(
      '[data-error-for]'
    )) {
      const field = slot.dataset.errorFor ?? '';
      slot.textContent = problems[field] ?? '';
    }
    for (const control of this.node.querySelectorAll<HTMLElement>(
      '[data-field]'
    )) {
      const field = control.dataset.field ?? '';
      control.toggleAttribute('aria-invalid', field in problems);
    }
  }

  private busy(text: string): void {
    fill(this.resultNode, h('div', { class: 'tf-busy', role: 'status' }, text));
  }

  private failed(error: unknown): void {
    if (error instanceof ApiError) {
      const byField = fieldErrors(error.message);
      if (Object.keys(byField).length) {
        this.showErrors(byField);
      }
    }
    const unreachable = error instanceof Unreachable;
    fill(
      this.resultNode,
      h(
        'div',
        {
          class: 'tf-problem',
          role: 'alert',
          'data-state': unreachable ? 'unreachable' : 'error'
        },
        unreachable ? 'Runner not reachable. ' : 'The scheduler refused it: ',
        h('pre', { class: 'tf-mono' }, (error as Error).message)
      )
    );
  }

  async preview(): Promise<Preview | null> {
    const form = this.readForm();
    if (!form) {
      return null;
    }
    this.busy(`Writing ${this.specFile} and previewing…`);
    try {
      const located = await this.context.repo.locate(this.notebookPath);
      if (located.path === null) {
        fill(this.resultNode);
        this.showOutside(located.info);
        return null;
      }
      this.specInRepo = specPath(located.path);
      await this.contents.save(this.specFile, {
        type: 'file',
        format: 'text',
        content: specToml(form)
      });
      const preview = await this.api.preview(this.specInRepo);
      this.showPreview(preview);
      return preview;
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  private showPreview(preview: Preview): void {
    const findings = preview.lint.findings;
    const review = button('Create review', {
      class: 'jp-Button jp-mod-styled jp-mod-accept tf-button',
      'data-action': 'review'
    });
    review.disabled = !preview.schedulable;
    review.addEventListener('click', () => void this.submit());
    const policy = preview.policy;
    fill(
      this.resultNode,
      h(
        'section',
        {
          class: 'tf-preview',
          'data-schedulable': String(preview.schedulable)
        },
        h('h3', {}, 'Preview'),
        h(
          'p',
          {
            class: preview.schedulable ? 'tf-ok' : 'tf-bad',
            'data-verdict': true
          },
          preview.schedulable
            ? `Schedulable: first run ${preview.first_run.logical_date}.`
            : 'Not schedulable: see the lint findings and the policy decision below.'
        ),
        h('h4', {}, 'Policy decision'),
        h(
          'pre',
          { class: 'tf-mono tf-code', 'data-policy': true },
          JSON.stringify(policy, null, 2)
        ),
        h('h4', {}, `Lint findings (${findings.length})`),
        findings.length
          ? h(
              'ul',
              { 'data-lint': true, class: 'tf-findings' },
              ...findings.map(f => this.finding(f))
            )
          : h('p', { class: 'tf-hint' }, 'None.'),
        h('h4', {}, 'Inputs'),
        preview.inputs.length
          ? h(
              'ul',
              {},
              ...preview.inputs.map(i =>
                h('li', { class: 'tf-mono' }, itemText(i))
              )
            )
          : h('p', { class: 'tf-hint' }, 'None.'),
        h('h4', {}, 'Outputs'),
        preview.outputs.length
          ? h(
              'ul',
              {},
              ...preview.outputs.map(i =>
                h('li', { class: 'tf-mono' }, itemText(i))
              )
            )
          : h('p', { class: 'tf-hint' }, 'None.'),
        h('h4', {}, `Spec: ${preview.spec.path}`),
        codeBlock(preview.spec.text, 'toml', this.context.languages, {
          'data-spec-text': true,
          'aria-label': `spec ${preview.spec.path} (read-only)`
        }),
        h('h4', {}, `Airflow DAG: ${preview.dag.path}`),
        codeBlock(preview.dag.text, 'python', this.context.languages, {
          'data-dag-text': true,
          'aria-label': `Airflow DAG ${preview.dag.path} (read-only)`
        }),
        h('div', { class: 'tf-actions' }, review),
        h('div', { class: 'tf-review' })
      )
    );
  }

  /**
   * A lint finding, `{cell, cell_id, line, rule, severity, message}` (`runner lint --json`):
   * its cell is a button that shows the cell in the notebook.
   */
  private finding(f: Json): HTMLElement {
    const cell = typeof f.cell === 'number' ? f.cell : null;
    if (cell === null) {
      return h('li', {}, itemText(f));
    }
    const line = typeof f.line === 'number' ? f.line : null;
    const id = typeof f.cell_id === 'string' ? f.cell_id : undefined;
    const link = h(
      'button',
      {
        type: 'button',
        class: 'tf-link',
        'data-lint-cell': String(cell),
        title: 'Show this cell in the notebook'
      },
      `cell ${cell}${line !== null ? `, line ${line}` : ''}`
    );
    link.addEventListener('click', () => this.showCell(cell, id));
    return h(
      'li',
      { class: `tf-finding tf-finding-${String(f.severity ?? '')}` },
      link,
      ` [${String(f.rule ?? '')}] ${String(f.severity ?? '')}: ${String(f.message ?? '')}`
    );
  }

  /** Activates and scrolls to cell `number` (1-based; found by its id first) of the notebook. */
  showCell(number: number, id?: string): void {
    const notebook = this.panel.content;
    if (this.panel.isDisposed) {
      return;
    }
    let index = id ? notebook.widgets.findIndex(c => c.model.id === id) : -1;
    if (index < 0) {
      index = number - 1;
    }
    const cell = notebook.widgets[index];
    if (!cell) {
      return;
    }
    this.context.showNotebook();
    notebook.mode = 'command';
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    void notebook.scrollToCell(cell, 'center').then(() => {
      notebook.node.focus();
    });
  }

  async submit(): Promise<Submission | null> {
    const slot = this.resultNode.querySelector<HTMLElement>('.tf-review');
    if (!slot) {
      return null;
    }
    if (!this.specInRepo) {
      return null;
    }
    this.submitting?.abort();
    const abort = new AbortController();
    this.submitting = abort;
    const view = new ProgressView();
    fill(slot, view.node);
    // One submission at a time: the button waits for this one's end.
    const review = this.resultNode.querySelector<HTMLButtonElement>(
      '[data-action="review"]'
    );
    if (review) {
      review.disabled = true;
    }
    try {
      let state = await this.api.submit(this.specInRepo);
      if (state.state !== 'done') {
        state = await this.follow(state, view, abort.signal);
      }
      if (abort.signal.aborted) {
        return null;
      }
      const result = state.result;
      if (!result) {
        throw new Error(
          `the submission ended without a result (HTTP ${state.status ?? '?'})`
        );
      }
      this.showSubmission(slot, result, view.state.log);
      return result;
    } catch (error) {
      fill(
        slot,
        h(
          'div',
          {
            class: 'tf-problem',
            role: 'alert',
            'data-state': error instanceof Unreachable ? 'unreachable' : 'error'
          },
          (error as Error).message
        )
      );
      return null;
    } finally {
      if (this.submitting === abort) {
        this.submitting = null;
      }
      if (review) {
        review.disabled = false;
      }
    }
  }

  /**
   * Follows a running submission through its events to its `result`; if the stream breaks off
   * without one, asks for the submission until it is done.
   */
  private async follow(
    started: SubmissionState,
    view: ProgressView,
    signal: AbortSignal
  ): Promise<SubmissionState> {
    let final: SubmissionState | null = null;
    try {
      await this.api.submissionEvents(
        started.id,
        (event: SseEvent) => {
          if (event.event === 'result') {
            final = JSON.parse(event.data) as SubmissionState;
          } else {
            view.update(event);
          }
        },
        signal
      );
    } catch (error) {
      if (error instanceof ApiError && error.status !== 404) {
        throw error;
      }
      // The stream is gone (or the proxy cut it): ask for the state instead.
    }
    let state: SubmissionState = final ?? started;
    while (state.state !== 'done' && !signal.aborted) {
      await new Promise(resolve => window.setTimeout(resolve, 1000));
      state = await this.api.submission(started.id);
    }
    return state;
  }

  private showSubmission(
    slot: HTMLElement,
    s: Submission,
    log: string[] = []
  ): void {
    const trialLog = log.length
      ? h(
          'details',
          { class: 'tf-trial-log' },
          h('summary', {}, `Trial run log (${log.length} lines)`),
          h('pre', { class: 'tf-mono tf-log' }, log.join('\n'))
        )
      : null;
    if (s.created) {
      const pr = s.pull_request;
      fill(
        slot,
        h(
          'div',
          { class: 'tf-ok', 'data-review': 'created' },
          h(
            'p',
            {},
            'Review branch ',
            h('code', { 'data-branch': s.branch ?? '' }, s.branch ?? ''),
            ` created (commit ${(s.commit ?? '').slice(0, 10)}).`
          ),
          pr
            ? h(
                'p',
                {},
                'Pull request: ',
                h(
                  'a',
                  { href: pr.url, target: '_blank', rel: 'noopener' },
                  `#${pr.number}`
                )
              )
            : null,
          s.publish_error
            ? h('p', { class: 'tf-bad' }, `Not published: ${s.publish_error}`)
            : null,
          h(
            'p',
            { class: 'tf-hint' },
            'It runs on its cadence once the branch is merged into main.'
          )
        ),
        h('h4', {}, 'Test plan'),
        h(
          'pre',
          { class: 'tf-mono tf-code', 'data-test-plan': true },
          s.test_plan ?? ''
        ),
        trialLog
      );
      return;
    }
    if (typeof (s as Partial<Submission>).created !== 'boolean') {
      // Not a trial's verdict: the spec or the review settings were refused.
      fill(
        slot,
        h(
          'div',
          { class: 'tf-problem', role: 'alert', 'data-review': 'error' },
          'No review was created: ',
          h('pre', { class: 'tf-mono' }, s.error ?? 'the submission failed')
        ),
        trialLog
      );
      return;
    }
    // The trial's error names the failing cell ("cell 2 raised ValueError: ..."); the test
    // plan has every cell's status.
    const error = h('pre', {
      class: 'tf-mono tf-traceback',
      'data-trial-error': true
    });
    error.innerHTML = ansiToHtml(s.error ?? 'the schedule cannot run.');
    const toNotebook = button('Back to the notebook', {
      'data-action': 'back-to-notebook'
    });
    toNotebook.addEventListener('click', () => this.context.showNotebook());
    const toForm = button('Edit the form', { 'data-action': 'back-to-form' });
    toForm.addEventListener('click', () => {
      this.controls.name.scrollIntoView({ block: 'center' });
      this.controls.name.focus();
    });
    fill(
      slot,
      h(
        'div',
        { class: 'tf-bad', 'data-review': 'failed', role: 'alert' },
        h(
          'p',
          {},
          s.trial
            ? 'No review was created: the trial run failed.'
            : 'No review was created: the schedule cannot run (see the preview: lint findings and the policy decision).'
        ),
        error,
        h(
          'p',
          { class: 'tf-hint' },
          'Fix the notebook or the form, then preview again.'
        ),
        h('div', { class: 'tf-actions' }, toNotebook, toForm)
      ),
      trialLog,
      s.test_plan
        ? h(
            'pre',
            { class: 'tf-mono tf-code', 'data-test-plan': true },
            s.test_plan
          )
        : null
    );
  }
}

/** The Create review step while the submission runs: its phases, the trial's cells, its log. */
class ProgressView {
  state: SubmissionProgress = startProgress();
  readonly node: HTMLElement;
  private readonly phases: HTMLElement;
  private readonly bar: HTMLProgressElement;
  private readonly cells: HTMLElement;
  private readonly log: HTMLElement;

  constructor() {
    this.phases = h('ol', { class: 'tf-phases' });
    this.bar = h('progress', {
      class: 'tf-progress',
      'aria-label': 'trial run'
    });
    this.cells = h(
      'span',
      { 'data-trial-progress': true },
      'starting the kernel…'
    );
    this.log = h('pre', { class: 'tf-mono tf-log', 'data-trial-log': true });
    this.node = h(
      'div',
      { class: 'tf-busy', 'data-review': 'running' },
      h(
        'p',
        { role: 'status' },
        'Submitting: the trial run goes first (sandboxed, uploads rolled back).'
      ),
      this.phases,
      h('div', { class: 'tf-inline tf-progress-row' }, this.bar, this.cells),
      this.log
    );
    this.render();
  }

  update(event: SseEvent): void {
    const next = foldSubmissionEvent(this.state, event);
    if (next === this.state) {
      return;
    }
    if (event.event === 'log') {
      this.log.append(`${event.data}\n`);
      this.log.scrollTop = this.log.scrollHeight;
    }
    this.state = next;
    this.render();
  }

  private render(): void {
    const { phase, progress } = this.state;
    const at = PHASES.indexOf(phase as (typeof PHASES)[number]);
    fill(
      this.phases,
      ...PHASES.map((p, i) =>
        h(
          'li',
          {
            'data-phase': p,
            'data-phase-state':
              i < at || phase === 'done'
                ? 'done'
                : i === at
                  ? 'current'
                  : 'todo',
            'aria-current': i === at ? 'step' : undefined
          },
          PHASE_TEXT[p]
        )
      )
    );
    if (progress) {
      this.bar.max = progress.total;
      this.bar.value = progress.done;
      this.cells.textContent = `cell ${progress.done}/${progress.total} done`;
    } else if (phase !== 'trial') {
      this.cells.textContent = 'trial run done';
      this.bar.max = 1;
      this.bar.value = 1;
    }
  }
}
