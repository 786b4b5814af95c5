"""Finding a dataset's files on disk, with errors that say what was expected where."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ftunlearn.errors import UnlearnError


def as_path(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` as a ``Path`` with ``~`` expanded, or ``None``."""
    return None if data_dir is None else Path(data_dir).expanduser()


def missing_files_error(
    dataset: str, directory: Path | None, expected: Sequence[str], hint: str
) -> UnlearnError:
    """The error for a dataset whose files are not where they were looked for."""
    listed = ", ".join(expected)
    if directory is None:
        where = "but no data directory was given"
    elif not directory.is_dir():
        where = f"in {directory}, which is not an existing directory"
    else:
        missing = [name for name in expected if not _candidates_exist(directory, name)]
        where = f"in {directory}; missing: {', '.join(missing)}"
    return UnlearnError(f"{dataset}: expected the files {listed} {where}. {hint}")


def _candidates_exist(directory: Path, name: str) -> bool:
    return any((directory / variant).is_file() for variant in _variants(name))


def _variants(name: str) -> tuple[str, ...]:
    """``"a[.gz]"`` stands for ``"a"`` and ``"a.gz"``; other names for themselves."""
    if name.endswith("[.gz]"):
        stem = name.removesuffix("[.gz]")
        return (stem, stem + ".gz")
    return (name,)


def locate_files(
    dataset: str, directory: Path | None, expected: Sequence[str], hint: str
) -> list[Path]:
    """The path of every expected file in ``directory``, in the order given.

    A name ending in ``[.gz]`` matches the file with or without the ``.gz`` suffix (the plain
    one first). Raises ``UnlearnError`` naming the missing files when any is absent.
    """
    if directory is None or not directory.is_dir():
        raise missing_files_error(dataset, directory, expected, hint)
    found: list[Path] = []
    for name in expected:
        match = next((directory / v for v in _variants(name) if (directory / v).is_file()), None)
        if match is None:
            raise missing_files_error(dataset, directory, expected, hint)
        found.append(match)
    return found
