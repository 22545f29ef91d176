"""The Jupyter server extension: dltoolkit's REST API under ``<base_url>/dltoolkit/api/``.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/dltoolkit.json`` (shipped in the wheel).
Loading it imports neither torch nor Lightning: the handlers import the catalog on first request,
so JupyterLab starts as fast with the extension as without it.

Model servers started from the sidebar (``POST runs/{id}/serve``) are child processes of the Jupyter
server; they are stopped when it exits. jupyter_server calls a stop hook only on ``ExtensionApp``
extensions (``ExtensionManager.stop_all_extensions``), and this is a plain module extension, so the
hook is ``atexit``: it runs after the server's own clean-up when it stops on SIGTERM, Ctrl-C or
``jupyter server stop`` (a SIGKILLed server stops nothing: its model servers live on).
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Add dltoolkit's routes to the running Jupyter server."""
    import os

    from dltoolkit.deploy.run_actions import RunServers
    from dltoolkit.server.handlers import routes

    web_app = server_app.web_app
    # runs live in $DLTOOLKIT_RUNS, else in dltoolkit-runs/ under the folder JupyterLab serves
    root_dir = getattr(server_app, "root_dir", None) or os.getcwd()
    runs_root = os.environ.get("DLTOOLKIT_RUNS") or os.path.join(root_dir, "dltoolkit-runs")
    web_app.settings["dltoolkit_runs_root"] = os.path.abspath(os.path.expanduser(runs_root))
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"]))
    RunServers.stop_all_at_exit()
    server_app.log.info(
        "dltoolkit: REST API at %sdltoolkit/api/, runs in %s",
        web_app.settings["base_url"],
        web_app.settings["dltoolkit_runs_root"],
    )
