"""How a widget's messages reach the kernel while a cell is still running (a Stop click during ``fit``).

A kernel handles front-end messages (comm messages included) between cells: while ``trainer.fit`` runs
in a cell, a click waits in the queue until the cell ends, too late to stop anything. Two ways around it:

* **A kernel subshell** (ipykernel 7, JEP 91): ipykernel routes each ``comm_msg`` to the subshell that
  ``comm._reply_subshell_for`` names, and every subshell has a thread of its own. ``route_to_subshell``
  creates one subshell for the dashboards of this kernel and routes a widget's comm to it: its messages
  are handled in that thread at once, whatever the main thread is running, with no cost to the
  training loop.
* **jupyter-ui-poll** (ipykernel 6): the training loop itself processes pending messages every ~0.2 s
  (``UiEventPump``). It calls ``kernel.do_one_iteration()``, which ipykernel 7 no longer has (there it
  silently does nothing), hence the subshell first.

Outside a kernel (a script, pytest) both are no-ops.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)

_SUBSHELLS: dict[int, str] = {}  # id(kernel) -> the dashboards' subshell
_LOCK = threading.Lock()


def ipython_kernel() -> Any:
    """The running ipykernel ``Kernel``, or None outside a kernel (never imports ipykernel itself)."""
    kernelbase = sys.modules.get("ipykernel.kernelbase")
    if kernelbase is None:
        return None
    kernel_cls = kernelbase.Kernel
    return kernel_cls.instance() if kernel_cls.initialized() else None


def _dashboard_subshell(kernel: Any) -> str | None:
    """The id of this kernel's dashboard subshell, created on first use; None if the kernel has none."""
    thread = getattr(kernel, "shell_channel_thread", None)
    if thread is None or not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    with _LOCK:
        if id(kernel) in _SUBSHELLS:
            return _SUBSHELLS[id(kernel)]
        manager = thread.manager
        created: queue.Queue[str | BaseException] = queue.Queue()

        def create() -> None:  # subshells are created in the shell channel thread only
            try:
                created.put(manager._create_subshell())
            except BaseException as err:  # reported to the caller below
                created.put(err)

        thread.io_loop.add_callback(create)
        result = created.get(timeout=10)
        if isinstance(result, BaseException):
            raise result
        _SUBSHELLS[id(kernel)] = result
        return result


def route_to_subshell(widget: Any) -> bool:
    """Have the kernel handle ``widget``'s front-end messages in the dashboards' subshell thread, so
    they are processed while a cell runs. True if routed; False outside a kernel or when the kernel
    cannot (ipykernel 6: use ``UiEventPump``)."""
    kernel = ipython_kernel()
    comm = getattr(widget, "comm", None)
    if kernel is None or comm is None or not hasattr(comm, "_reply_subshell_for"):
        return False
    try:
        subshell = _dashboard_subshell(kernel)
    except Exception as err:
        log.warning("dltoolkit dashboards: could not create a kernel subshell: %s", err)
        return False
    if subshell is None:
        return False
    # ipykernel asks the comm which subshell handles each incoming comm_msg (comm._reply_subshell_for)
    comm._reply_subshell_for = lambda data, default: subshell
    return True


class UiEventPump:
    """Process pending front-end messages from inside a running cell (jupyter-ui-poll), where the kernel
    can (ipykernel 6): ``pump.start()``, then ``pump.poll()`` now and then, then ``pump.stop()``."""

    def __init__(self) -> None:
        self._context: Any = None
        self._poll: Any = None

    @staticmethod
    def available() -> bool:
        kernel = ipython_kernel()
        return kernel is not None and callable(getattr(kernel, "do_one_iteration", None))

    @property
    def active(self) -> bool:
        return self._poll is not None

    def start(self) -> bool:
        if self._poll is not None or not self.available():
            return self._poll is not None
        from jupyter_ui_poll import ui_events

        self._context = ui_events()
        self._poll = self._context.__enter__()
        return True

    def poll(self, n: int = 10) -> None:
        if self._poll is not None:
            self._poll(n)

    def stop(self) -> None:
        context, self._context, self._poll = self._context, None, None
        if context is not None:
            context.__exit__(None, None, None)
