"""Reading ``metrics.csv`` while the trainer appends to it: whole (``read_metrics``) or only what is
new since the last read (``MetricsTail``). ``Run.metrics``, the server's live stream and ``RunsPanel``
all read through this module. No torch here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path

#: columns whose values are whole numbers
INT_COLUMNS = ("epoch", "step")


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Every complete row of the CSV at ``path`` (empty cells left out; ``[]`` when there is no file).

    rows = read_metrics(run.metrics_path)   # [{"epoch": 0, "step": 9, "train/loss": 2.1}, ...]
    """
    tail = MetricsTail(path)
    tail.read()
    return tail.rows


class MetricsTail:
    """The rows of one ``metrics.csv``, read as the file grows: a read parses only the bytes appended
    since the previous one (parsing the whole file takes ~0.1 s at 46,000 rows), and ``rows`` are the
    same as a read of the whole file. The file is read from its start again when its header changes
    (CSVLogger rewrites the file when a new column appears: rare) and when it is replaced or shrinks (a
    resume that restarted): then ``reset`` says the rows start over.

        tail = MetricsTail(run.metrics_path)
        new, reset = tail.read() or ([], False)   # None: nothing changed since the last read
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = []
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read
        self._size = -1
        self._header = b""
        self._columns: list[str] = []
        self._offset = 0  # bytes parsed: the header and every complete line after it

    def read(self) -> tuple[list[dict[str, float]], bool] | None:
        """``(new rows, reset)``; None when the file has not changed since the last read."""
        try:
            with self.path.open("rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if identity == self._identity and st.st_size == self._size:
                    return None
                reset = self._identity is not None and (
                    identity != self._identity or st.st_size < self._offset
                )
                header = f.readline()
                columns, offset = self._columns, self._offset
                if header == self._header and not reset:
                    skip = 0  # the usual case: only the lines appended since the last read
                    f.seek(offset)
                else:  # a new file or a new header: every line again, the rows known skipped
                    skip = 0 if reset else len(self.rows)
                    columns = next(csv.reader([header.decode("utf-8", "replace")]), [])
                    offset = len(header)
                data = f.read() if header.endswith(b"\n") else b""  # (a header being written: no rows)
        except OSError:  # no file (yet, or any more: a resume that restarted deletes it)
            if self._identity is None:
                return None
            self._identity, self._size, self._header, self._offset = None, -1, b"", 0
            self.rows.clear()
            return [], True
        complete = data[: data.rfind(b"\n") + 1]  # a last line still being written: next time
        parsed = self._parse(complete, columns)
        if len(parsed) < skip:  # a rewrite with a new header, under way: read it again next time
            return None
        if reset:
            self.rows.clear()
        self._identity, self._size, self._header = identity, st.st_size, header
        self._columns, self._offset = columns, offset + len(complete)
        new = parsed[skip:]
        self.rows.extend(new)
        return new, reset

    @staticmethod
    def _parse(data: bytes, columns: list[str]) -> list[dict[str, float]]:
        rows: list[dict[str, float]] = []
        for fields in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
            if not fields:
                continue
            row: dict[str, float] = {}
            for key, value in zip(columns, fields, strict=False):
                if value == "":
                    continue
                with contextlib.suppress(ValueError):
                    number = float(value)
                    row[key] = int(number) if key in INT_COLUMNS else number
            rows.append(row)
        return rows
