/**
 * Tiffin in JupyterLab: a Schedule button in the notebook toolbar (form, preview, review) and a
 * debug pane on the right that follows the active notebook.
 */

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { find } from '@lumino/algorithm';
import { IDisposable } from '@lumino/disposable';

import { SchedulerApi } from './api';
import { ExecutedNotebook } from './executed';
import { DebugPane } from './pane';
import { Repository } from './repo';
import { ScheduleWidget } from './schedule';

const clockSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
  '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z"/></g></svg>';

export const scheduleIcon = new LabIcon({
  name: 'tiffin:schedule',
  svgstr: clockSvg
});

const COMMAND = 'tiffin:schedule-notebook';

class ScheduleButtonExtension implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(private readonly app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      icon: scheduleIcon,
      label: 'Schedule',
      tooltip: 'Schedule this notebook: form, preview and review',
      className: 'tf-schedule-button',
      onClick: () =>
        void this.app.commands.execute(COMMAND, { path: panel.context.path })
    });
    // Enabled for saved notebooks: a new, never-saved one has nothing the runner could read.
    const update = (): void => {
      button.enabled =
        !panel.context.model.dirty && panel.context.contentsModel !== null;
    };
    panel.context.ready.then(update).catch(() => undefined);
    panel.context.model.stateChanged.connect(update);
    panel.context.fileChanged.connect(update);
    panel.toolbar.insertAfter('cellType', 'tiffinSchedule', button);
    return button;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'tiffin-labextension:plugin',
  description: 'Schedule a notebook with Tiffin and debug its runs',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell, IEditorLanguageRegistry, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    labShell: ILabShell | null,
    languages: IEditorLanguageRegistry | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const api = new SchedulerApi();
    const repo = new Repository(api);
    const pane = new DebugPane(api, repo, {
      openNotebook: (run, title) => {
        const id = `tiffin-executed-${run}`;
        if (find(app.shell.widgets('main'), w => w.id === id)) {
          app.shell.activateById(id);
          return;
        }
        const content = new ExecutedNotebook(api, run, {
          rendermime,
          languages
        });
        const widget = new MainAreaWidget({ content });
        widget.id = id;
        widget.title.label = title;
        widget.title.caption = `${title} (read-only)`;
        widget.title.icon = scheduleIcon;
        widget.title.closable = true;
        app.shell.add(widget, 'main', { mode: 'split-right' });
        app.shell.activateById(id);
      }
    });
    pane.title.icon = scheduleIcon;
    app.shell.add(pane, 'right', { rank: 600 });

    app.commands.addCommand(COMMAND, {
      label: 'Schedule Notebook…',
      icon: scheduleIcon,
      execute: args => {
        const path =
          typeof args.path === 'string'
            ? args.path
            : tracker.currentWidget?.context.path;
        const panel =
          tracker.find(p => p.context.path === path) ?? tracker.currentWidget;
        if (!panel) {
          return;
        }
        // One form per notebook: a second click shows the open one.
        const open = find(
          app.shell.widgets('main'),
          w => w.id === `tiffin-schedule-${panel.context.path}`
        );
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const content = new ScheduleWidget(
          panel,
          api,
          app.serviceManager.contents,
          {
            languages,
            repo,
            showNotebook: () => {
              if (!panel.isDisposed) {
                app.shell.activateById(panel.id);
              }
            }
          }
        );
        const widget = new MainAreaWidget({ content });
        widget.id = content.id;
        widget.title.label = content.title.label;
        widget.title.icon = scheduleIcon;
        app.shell.add(widget, 'main', { mode: 'split-right' });
        app.shell.activateById(widget.id);
      }
    });
    app.docRegistry.addWidgetExtension(
      'Notebook',
      new ScheduleButtonExtension(app)
    );

    const follow = (): void => {
      const current = tracker.currentWidget;
      pane.setNotebook(current ? current.context.path : null);
    };
    tracker.currentChanged.connect(follow);
    labShell?.currentChanged.connect(() => {
      // Keep following the last notebook while another kind of tab (e.g. the form) is active.
      if (tracker.currentWidget) {
        follow();
      }
    });
    follow();
  }
};

export default plugin;
