"""Report renderers: turn the suite's report dict (schema ``kms-conformance/report/v1``) into files.

The renderers never run the suite; they only read the dict, so they also work on a saved report.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conformance.reporting._common import SCHEMA, VERDICTS
from conformance.reporting.html import render_html
from conformance.reporting.junit import render_junit
from conformance.reporting.markdown import render_markdown
from conformance.reporting.matrix import (
    Matrix,
    MatrixColumn,
    MatrixRow,
    build_matrix,
    render_matrix_html,
    render_matrix_markdown,
)

__all__ = [
    "REPORT_FILES",
    "SCHEMA",
    "VERDICTS",
    "Matrix",
    "MatrixColumn",
    "MatrixRow",
    "build_matrix",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_matrix_html",
    "render_matrix_markdown",
    "write_reports",
    "write_text_atomic",
]


def render_json(report: Mapping[str, Any]) -> str:
    """report.json text: insertion order kept, indent 2, non-ASCII as is."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


# key -> (file name, renderer), in the order the files are written.
REPORT_FILES: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "json": ("report.json", render_json),
    "markdown": ("report.md", render_markdown),
    "html": ("report.html", render_html),
    "junit": ("junit.xml", render_junit),
}


def write_text_atomic(path: Path, content: str) -> None:
    """Write via a temp file in the same directory and ``os.replace``, so readers never see half a file.

    Lone surrogates (possible in text decoded from a misbehaving target) are written as ``\\udXXX``
    escapes instead of failing the whole write; in JSON strings that escape reads back as the same text.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: Mapping[str, Any], directory: Path) -> dict[str, Path]:
    """Render every format first (so a renderer error leaves old files intact), then write each atomically.

    Returns ``{"json": .../report.json, "markdown": .../report.md, "html": .../report.html,
    "junit": .../junit.xml}``. The directory is created if missing.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rendered = {key: (directory / name, render(report)) for key, (name, render) in REPORT_FILES.items()}
    for path, content in rendered.values():
        write_text_atomic(path, content)
    return {key: path for key, (path, _) in rendered.items()}
