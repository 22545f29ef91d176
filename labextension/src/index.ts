/**
 * dltoolkit's JupyterLab extension: the "Deep Learning" sidebar (catalog, launch form, runs), a
 * main-area tab per run (`dltoolkit:open-run`) and one per finished run looked inside
 * (`dltoolkit:inspect-run`: its Explain and Attack views). Everything it shows comes from the server extension's
 * REST API (`client.ts`), so a page reload, or another browser, sees the same runs.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import 'uplot/dist/uPlot.min.css';
import '@dltoolkit/widgets/src/chart.css';

import iconSvg from '../style/icons/dltoolkit.svg';
import { RunDetailWidget } from './detail';
import type { InspectTab } from './inspect';
import { RunInspectWidget } from './inspectwidget';
import { RunsModel } from './model';
import { DLToolkitSidebar } from './sidebar';

export const dltoolkitIcon = new LabIcon({ name: 'dltoolkit:icon', svgstr: iconSvg });

export const OPEN_RUN = 'dltoolkit:open-run';
export const SHOW_SIDEBAR = 'dltoolkit:show-sidebar';
export const INSPECT_RUN = 'dltoolkit:inspect-run';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dltoolkit:sidebar',
  description: 'The Deep Learning sidebar: catalog, launch form, live runs and run details.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
  ) => {
    const settings = app.serviceManager.serverSettings;
    const model = new RunsModel(settings);
    const tracker = new WidgetTracker<MainAreaWidget<RunDetailWidget>>({
      namespace: 'dltoolkit-run',
    });
    const inspectTracker = new WidgetTracker<MainAreaWidget<RunInspectWidget>>({
      namespace: 'dltoolkit-inspect',
    });
    const inspectRun = (runId: string, view: InspectTab) =>
      void app.commands.execute(INSPECT_RUN, { runId, view });

    app.commands.addCommand(OPEN_RUN, {
      label: (args) => (args.runId ? `Open Run ${args.runId}` : 'Open Run'),
      caption: 'Open a run: its live charts, status, config and command',
      icon: (args) => (args.isPalette ? undefined : dltoolkitIcon),
      execute: (args) => {
        const runId = String(args.runId ?? '');
        if (!runId) {
          return;
        }
        const open = tracker.find((w) => w.content.runId === runId);
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const content = new RunDetailWidget({ runId, model, settings, inspectRun });
        const widget = new MainAreaWidget({ content });
        widget.id = `dltoolkit-run-${runId}`;
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
        widget.title.icon = dltoolkitIcon;
        widget.title.closable = true;
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      },
    });

    app.commands.addCommand(INSPECT_RUN, {
      label: (args) => {
        const what = args.view === 'attack' ? 'Attack' : 'Explain';
        return args.runId ? `${what} Run ${args.runId}` : `${what} Run`;
      },
      caption:
        "Look inside a finished run's model: explain its predictions, attack its test images",
      icon: (args) => (args.isPalette ? undefined : dltoolkitIcon),
      execute: (args) => {
        const runId = String(args.runId ?? '');
        if (!runId) {
          return;
        }
        const view: InspectTab = args.view === 'attack' ? 'attack' : 'explain';
        // one tab per run: Explain and Attack share its samples and keep their results
        const open = inspectTracker.find((w) => w.content.runId === runId);
        if (open) {
          open.content.tab = view;
          app.shell.activateById(open.id);
          return open;
        }
        const content = new RunInspectWidget({ runId, model, settings, tab: view });
        const widget = new MainAreaWidget({ content });
        widget.id = `dltoolkit-inspect-${runId}`;
        widget.title.icon = dltoolkitIcon;
        widget.title.closable = true;
        void inspectTracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      },
    });

    const sidebar = new DLToolkitSidebar({
      model,
      settings,
      openRun: (runId) => void app.commands.execute(OPEN_RUN, { runId }),
      inspectRun,
    });
    sidebar.title.icon = dltoolkitIcon;
    sidebar.title.caption = 'Deep Learning';
    app.shell.add(sidebar, 'left', { rank: 850 });

    app.commands.addCommand(SHOW_SIDEBAR, {
      label: 'Show the Deep Learning Sidebar',
      execute: () => app.shell.activateById(sidebar.id),
    });
    if (palette) {
      palette.addItem({ command: SHOW_SIDEBAR, category: 'Deep Learning' });
    }

    if (restorer) {
      restorer.add(sidebar, sidebar.id);
      void restorer.restore(tracker, {
        command: OPEN_RUN,
        args: (widget) => ({ runId: widget.content.runId }),
        name: (widget) => widget.content.runId,
      });
      void restorer.restore(inspectTracker, {
        command: INSPECT_RUN,
        args: (widget) => ({ runId: widget.content.runId, view: widget.content.tab }),
        name: (widget) => widget.content.runId,
      });
    }
  },
};

export default plugin;
