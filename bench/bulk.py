"""Bulk ingest benchmark: TSV rows of base64 LFW images, dry run, local and Ray engines.

Builds in a temp dir a TSV of all 13,233 LFW images (base64, segment = person's initial), the
same repeated to 100,000 rows, and a TSV of ~20 kB images (LFW re-encoded larger) repeated to
100,000 rows. Prints the dry-run rate (one core), the index rate of the local engine and of Ray
on the same rows (wall time including start-up, and steady state after the first result), the
catalog's write rate, and the projected wall time for 8 M rows on this machine and on N.

    .venv/bin/python bench/bulk.py                 # ~4 minutes on 2 cores
    .venv/bin/python bench/bulk.py --rows 500 --machines 10
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import LFW, require
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.engines.local import run_local_items
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult
from faceatlas.index import IndexConfig, Inputs, index_inputs
from faceatlas.sources import TsvSpec, dry_run_tsv, iter_tsv

TARGET = 8_000_000


def build_tsvs(tmp: Path, repeat_to: int) -> tuple[Path, Path, Path]:
    """(LFW once, LFW repeated to ``repeat_to`` rows, ~20 kB images repeated likewise)."""
    paths = sorted(require(LFW).glob("*/*.jpg"))
    lines = [f"{p.parent.name[0]}\t".encode() + base64.b64encode(p.read_bytes()) for p in paths]
    once = tmp / "lfw.tsv"
    once.write_bytes(b"\n".join(lines) + b"\n")
    repeated = tmp / "lfw-100k.tsv"
    with repeated.open("wb") as handle:
        for line in itertools.islice(itertools.cycle(lines), repeat_to):
            handle.write(line + b"\n")
    big_lines = []
    for p in paths[:1000]:  # 250 px JPEG ~9 kB -> 400 px at quality 92 ~20 kB
        buffer = io.BytesIO()
        Image.open(p).resize((400, 400), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=92)
        big_lines.append(b"x\t" + base64.b64encode(buffer.getvalue()))
    big = tmp / "20kb-100k.tsv"
    with big.open("wb") as handle:
        for line in itertools.islice(itertools.cycle(big_lines), repeat_to):
            handle.write(line + b"\n")
    return once, repeated, big


def dry_run(path: Path) -> float:
    """Print and return the dry-run rate (rows/s) of one TSV."""
    result = dry_run_tsv([path], TsvSpec(segment_column=0))
    size = path.stat().st_size / result.rows / 1e3
    image_kb = size * 3 / 4
    print(
        f"dry run {path.name}: {result.rows:,} rows ({image_kb:.1f} kB images) in "
        f"{result.seconds:.2f} s = {result.rows_per_second:,.0f} rows/s, "
        f"{result.bytes / result.seconds / 1e9:.2f} GB/s of base64; bad rows {result.bad}"
    )
    return result.rows_per_second


def run_engine(engine: str, tsv: Path, start: int, rows: int, workers: int) -> float:
    """Seconds to analyse TSV rows ``start:start + rows`` with ``engine``, start-up included."""
    items = iter_tsv(tsv, TsvSpec(segment_column=0, start=start, end=start + rows))
    model = ModelConfig()
    started = time.perf_counter()
    if engine == "ray":
        from faceatlas.engines.ray import run_ray_items

        batches = run_ray_items(
            items, model, workers=workers, max_pixels=100_000_000, wave=rows
        )
    else:
        batches = run_local_items(items, model, workers, 100_000_000)
    count = sum(len(results) for results in batches)
    if count != rows:
        raise RuntimeError(f"{engine} returned {count} results for {rows} rows")
    return time.perf_counter() - started


def engine_rate(engine: str, tsv: Path, small: int, large: int, workers: int) -> tuple:
    """(start-up seconds, images/s after start-up, overall images/s on ``large`` rows).

    Two runs of different sizes on different rows: t = start-up + rows / rate, so results
    that arrive in bursts cannot bias the rate.
    """
    t_small = run_engine(engine, tsv, 0, small, workers)
    t_large = run_engine(engine, tsv, small, large, workers)
    rate = (large - small) / (t_large - t_small)
    return t_small - small / rate, rate, large / t_large


def catalog_write_rate(tmp: Path, n: int = 20_000) -> float:
    """Results (one face each) committed per second, in batches of 32 like ``index``."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 128)).astype(np.float32)
    results = [
        ImageResult(
            path=f"/x.tsv#{i}",
            size=1,
            mtime_ns=0,
            status="ok",
            width=250,
            height=250,
            faces=[Face((1, 2, 3, 4), np.zeros((5, 2), np.float32), 1.0, vectors[i])],
            model="m",
        )
        for i in range(n)
    ]
    with Catalog(tmp / "write.db") as catalog:
        catalog.face_set_for(ModelConfig().spec())
        started = time.perf_counter()
        for start in range(0, n, 32):
            catalog.add_results(results[start : start + 32])
        return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400, help="rows of the larger engine run")
    parser.add_argument("--small", type=int, default=100, help="rows of the smaller engine run")
    parser.add_argument("--repeat-to", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--machines", type=int, nargs="*", default=[10, 100])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="faceatlas-bulk-"))
    try:
        started = time.perf_counter()
        once, repeated, big = build_tsvs(tmp, args.repeat_to)
        print(
            f"built TSVs in {time.perf_counter() - started:.0f} s: {once.stat().st_size / 1e6:.0f}"
            f" MB, {repeated.stat().st_size / 1e6:.0f} MB, {big.stat().st_size / 1e6:.0f} MB"
        )
        scan = min(dry_run(path) for path in (once, repeated, big))
        # the real index path once, for the record (keys, catalog, commits)
        with Catalog(tmp / "index.db") as catalog:
            summary = index_inputs(
                catalog,
                Inputs(tsv=(once,), tsv_spec=TsvSpec(segment_column=0, end=2 * args.small)),
                IndexConfig(workers=args.workers),
            )
        print(
            f"faceatlas index --tsv (local, {args.workers} workers): {summary.processed} rows "
            f"in {summary.seconds:.1f} s = {summary.images_per_second:.1f} img/s, "
            f"{summary.faces} faces, {summary.errors} errors"
        )
        rates = {}
        for engine in ("local", "ray"):
            startup, rate, overall = engine_rate(engine, once, args.small, args.rows, args.workers)
            rates[engine] = rate
            print(
                f"engine {engine:5s}: {rate:.1f} img/s after {startup:.1f} s start-up "
                f"({overall:.1f} img/s overall on {args.rows} LFW rows, {args.workers} CPUs)"
            )
        writes = catalog_write_rate(tmp)
        print(f"catalog writes: {writes:,.0f} images/s (one face each, 32 per transaction)")
        local = rates["local"]
        hours = TARGET / local / 3600
        print(
            f"8 M rows on this machine ({args.workers} cores, local engine): {hours:.0f} h "
            f"({hours / 24:.1f} days) at {local:.1f} img/s"
        )
        ceiling = min(writes, scan)  # the driver scans rows and writes the catalog alone
        for n in args.machines:
            rate = min(rates["ray"] * n, ceiling)
            bound = " (driver bound: row scan or catalog writes)" if rate == ceiling else ""
            print(
                f"8 M rows on {n} such machines (Ray): {TARGET / rate / 3600:.1f} h at "
                f"{rate:,.0f} img/s{bound}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
