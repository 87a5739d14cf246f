"""Shared helpers for the benchmarks: data paths and a reusable, resumable LFW catalog."""

from __future__ import annotations

import sys
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, index_paths

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LFW = DATA / "lfw"
DEFAULT_LFW_CATALOG = REPO / ".cache" / "lfw.db"


def require(path: Path) -> Path:
    """Exit with a clear message when a data set is missing."""
    if not path.exists():
        sys.exit(f"data not found: {path} (see ../shared/data/README.md)")
    return path


def lfw_catalog(path: Path = DEFAULT_LFW_CATALOG, workers: int = 0) -> Catalog:
    """A catalog of all of LFW, indexed with faceatlas defaults; built once, then reused."""
    catalog = Catalog(path)
    summary = index_paths(catalog, [require(LFW)], IndexConfig(workers=workers), show_progress=True)
    if summary.processed:
        print(
            f"indexed {summary.processed} LFW images in {summary.seconds:.0f} s "
            f"({summary.images_per_second:.1f} img/s)",
            file=sys.stderr,
        )
    return catalog


if __name__ == "__main__":
    lfw_catalog().close()
