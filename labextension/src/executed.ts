/**
 * A run's executed notebook (`GET /api/v1/runs/{id}/notebook`), shown read-only in a main-area
 * tab: markdown and outputs through JupyterLab's rendermime (untrusted, as an unreviewed file
 * would be), code highlighted by CodeMirror's languages. It is not a document: nothing in the
 * user's tree is written, and there is nothing to edit or save.
 */

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type * as nbformat from '@jupyterlab/nbformat';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

import { Json, SchedulerApi, Unreachable } from './api';
import { fill, h } from './dom';
import { codeBlock } from './schedule';

interface NbCell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: Json[];
}

const text = (source: string | string[]): string =>
  Array.isArray(source) ? source.join('') : source;

export class ExecutedNotebook extends Panel {
  private readonly head: Widget;
  private readonly status: HTMLElement;

  constructor(
    private readonly api: SchedulerApi,
    private readonly run: string,
    private readonly options: {
      rendermime: IRenderMimeRegistry | null;
      languages: IEditorLanguageRegistry | null;
    }
  ) {
    super();
    this.addClass('tf-executed');
    this.node.setAttribute('data-executed-run', run);
    this.node.setAttribute('aria-readonly', 'true');
    const reload = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button jp-mod-styled tf-button',
        'data-action': 'reload-notebook'
      },
      'Reload'
    );
    reload.addEventListener('click', () => void this.load());
    this.status = h('span', { class: 'tf-hint', role: 'status' });
    this.head = new Widget({
      node: h(
        'div',
        { class: 'tf-executed-head' },
        h(
          'p',
          {},
          h('strong', {}, 'Read-only: '),
          `the notebook as run ${run} executed it (kept in the run's record; partial while the run goes on).`
        ),
        this.status,
        reload
      )
    });
    this.addWidget(this.head);
    void this.load();
  }

  async load(): Promise<void> {
    this.status.textContent = 'Loading…';
    let notebook: Json;
    try {
      notebook = await this.api.notebook(this.run);
    } catch (error) {
      fill(
        this.status,
        h(
          'span',
          {
            class: 'tf-problem',
            role: 'alert',
            'data-state': error instanceof Unreachable ? 'unreachable' : 'error'
          },
          (error as Error).message
        )
      );
      return;
    }
    for (const widget of [...this.widgets]) {
      if (widget !== this.head) {
        widget.dispose();
      }
    }
    const metadata = (notebook.metadata ?? {}) as {
      language_info?: { name?: string };
      kernelspec?: { language?: string };
    };
    const language =
      metadata.language_info?.name ?? metadata.kernelspec?.language ?? 'python';
    const cells = (notebook.cells ?? []) as NbCell[];
    cells.forEach((cell, i) => this.addWidget(this.cell(cell, i, language)));
    this.status.textContent = `${cells.length} cells`;
  }

  private cell(cell: NbCell, index: number, language: string): Widget {
    const source = text(cell.source);
    const box = new Panel();
    box.addClass('tf-nb-cell');
    box.node.setAttribute('data-nb-cell', String(index + 1));
    box.node.setAttribute('data-cell-type', cell.cell_type);
    const rendermime = this.options.rendermime;
    if (cell.cell_type === 'markdown' && rendermime) {
      const renderer = rendermime.createRenderer('text/markdown');
      void renderer.renderModel(
        new MimeModel({ data: { 'text/markdown': source }, trusted: false })
      );
      box.addWidget(renderer);
      return box;
    }
    if (cell.cell_type !== 'code') {
      box.addWidget(
        new Widget({ node: h('pre', { class: 'tf-mono tf-code' }, source) })
      );
      return box;
    }
    const count = cell.execution_count ?? ' ';
    box.addWidget(
      new Widget({
        node: h(
          'div',
          { class: 'tf-nb-input' },
          h('div', { class: 'tf-nb-prompt tf-mono' }, `[${count}]:`),
          codeBlock(source, language, this.options.languages, {
            'aria-label': `cell ${index + 1} (read-only)`
          })
        )
      })
    );
    const outputs = cell.outputs ?? [];
    if (outputs.length && rendermime) {
      const model = new OutputAreaModel({
        values: outputs as unknown as nbformat.IOutput[],
        trusted: false
      });
      box.addWidget(new OutputArea({ model, rendermime }));
    }
    return box;
  }
}
