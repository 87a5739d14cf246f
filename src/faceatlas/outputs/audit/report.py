"""``report.html``: the audit's top findings with face crops side by side.

The report is a folder that opens in any browser without a server: one HTML file with inline CSS
and face crops under ``report_files/`` (made by ``faceatlas.outputs.thumbs``), linked relatively,
so the folder can be zipped or moved as a whole.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from faceatlas.decode import DecodeError
from faceatlas.outputs.audit.analysis import AuditResult, distance_of, duplicate_action
from faceatlas.outputs.thumbs import face_thumbnail

FILES = "report_files"
CROP = 112

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%} td,th{padding:6px 8px;border-bottom:1px solid #eee;
vertical-align:top;text-align:left} th{background:#f6f6f6}
figure{display:inline-block;margin:0 8px 0 0;text-align:center;font-size:12px;width:120px;
vertical-align:top;white-space:normal;overflow-wrap:anywhere} td.faces{white-space:nowrap}
figure img{width:112px;height:112px;border-radius:4px;display:block}
.missing{width:112px;height:112px;background:#eee;display:flex;align-items:center;
justify-content:center;color:#888} .score{font-weight:600} .action{color:#a40}
.meta{color:#666} code{font-size:12px}
"""


def write_report(result: AuditResult, out: str | Path, top: int = 50) -> Path:
    """Write ``out/report.html`` (and its crops) with the ``top`` findings of each kind."""
    out = Path(out)
    cache = out / FILES
    ds = result.dataset
    cal = result.calibration

    def crop(item: int, caption: str) -> str:
        face = result.face(item)
        label = html.escape(caption)
        if face is None:
            return f'<figure><div class="missing">no face</div>{label}</figure>'
        try:
            thumb = face_thumbnail(face, cache, CROP)
        except (DecodeError, OSError):
            return f'<figure><div class="missing">unreadable</div>{label}</figure>'
        src = html.escape(Path(os.path.relpath(thumb, out)).as_posix())
        title = html.escape(ds.paths[item])
        return f'<figure><img src="{src}" alt="face" title="{title}">{label}</figure>'

    def name(item: int) -> str:
        return html.escape(ds.relative(item))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>faceatlas audit of {html.escape(ds.root.name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Audit of <code>{html.escape(str(ds.root))}</code></h1>",
        f"<p>{len(ds)} images in {len(set(ds.folders))} folders: "
        f"{len(result.mislabeled)} possibly mislabeled, {len(result.outliers)} outliers, "
        f"{len(result.duplicates)} duplicates, {len(result.suspect_pairs)} suspect cross-folder "
        f"pairs, {len(result.no_face)} without a face, {len(result.many_faces)} with several "
        "faces. Nothing was moved or deleted.</p>",
        f"<p class='meta'>Similarities are cosines of face embeddings. Same-person level of this "
        f"dataset (median within folders) {cal.same_similarity:.3f}, different people "
        f"{cal.different_similarity:.3f}; suspect pairs above {1 - cal.threshold**2 / 2:.3f} "
        f"(distance {cal.threshold:.3f}{', auto' if cal.auto_threshold else ''}); mislabeled when "
        f"the best other folder beats the own folder by {cal.margin:.3f}"
        f"{' (auto)' if cal.auto_margin else ''}, or when nothing in its folder is within the "
        "clustering cut while 3+ faces there agree; a folder is suggested only when the match is "
        "as close as the folder's own photos are to each other (else: unknown person). Full lists "
        "in the CSV files next to this page.</p>",
    ]

    def table(title: str, findings: list, *columns: str) -> list:
        """Open a section: its title, the table head; returns the findings to show."""
        parts.append(f"<h2>{title} (top {min(top, len(findings))})</h2>")
        parts.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>")
        return findings[:top]

    def pair(a: int, b: int) -> str:
        """The first two cells of a pair's row: both names, both faces."""
        faces = crop(a, ds.folders[a]) + crop(b, ds.folders[b])
        return f"<tr><td>{name(a)}<br>{name(b)}</td><td class='faces'>{faces}</td>"

    mislabeled = table(
        "Possibly mislabeled",
        result.mislabeled,
        "image",
        "faces: this, best other folder, best own folder",
        "score",
        "suggested action",
    )
    for m in mislabeled:
        parts.append(
            f"<tr><td>{name(m.item)}<br><span class='meta'>folder "
            f"{html.escape(ds.folders[m.item])}</span></td><td class='faces'>"
            + crop(m.item, "this image")
            + crop(
                m.match,
                f"{m.suggested} {m.best_similarity:.3f}"
                if m.suggested
                else f"closest elsewhere {m.best_similarity:.3f} (below {m.confidence:.3f})",
            )
            + crop(m.own_match, f"{ds.folders[m.item]} {m.own_similarity:.3f}")
            + f"</td><td class='score'>{m.score:.3f}<br><span class='meta'>votes own "
            f"{m.own_votes}, closest folder {m.suggested_votes} of {m.voters}</span></td>"
            f"<td class='action'>{html.escape(m.action)}</td></tr>"
        )
    parts.append("</table>")

    outliers = table(
        "Outliers in their own folder",
        result.outliers,
        "image",
        "faces: this, nearest in its folder",
        "distance to folder centre",
        "suggested action",
    )
    for o in outliers:
        nearest = crop(o.nearest, f"nearest {o.nearest_similarity:.3f}") if o.nearest >= 0 else ""
        parts.append(
            f"<tr><td>{name(o.item)}<br><span class='meta'>cluster {o.cluster_size} of "
            f"{o.folder_faces} faces, largest {o.largest_cluster}</span></td><td class='faces'>"
            + crop(o.item, "this image")
            + nearest
            + f"</td><td class='score'>{o.score:.3f}</td>"
            f"<td class='action'>{html.escape(o.action)}</td>"
            "</tr>"
        )
    parts.append("</table>")

    for d in table("Duplicates", result.duplicates, "images", "faces", "kind", "suggested action"):
        action = duplicate_action(d.kind, ds.folders[d.a] == ds.folders[d.b])
        parts.append(
            pair(d.a, d.b) + f"<td>{d.kind.replace('_', ' ')} {d.similarity:.3f}</td>"
            f"<td class='action'>{html.escape(action)}</td></tr>"
        )
    parts.append("</table>")

    suspects = table(
        "Most similar pairs across folders",
        result.suspect_pairs,
        "images",
        "faces",
        "similarity",
        "suggested action",
    )
    for p in suspects:
        parts.append(
            pair(p.a, p.b) + f"<td class='score'>{p.similarity:.3f}<br><span class='meta'>"
            f"distance {distance_of(p.similarity):.3f}</span></td>"
            "<td class='action'>check: same person in two folders?</td></tr>"
        )
    parts.append("</table>")

    for mf in table(
        "Images with several faces", result.many_faces, "image", "labeled face chosen", "why"
    ):
        parts.append(
            f"<tr><td>{name(mf.item)}<br><span class='meta'>{mf.faces} faces</span></td>"
            "<td class='faces'>"
            + crop(mf.item, "chosen")
            + f"</td><td>{html.escape(mf.rule)}</td></tr>"
        )
    parts.append("</table>")

    parts.append(f"<h2>Images without a face ({len(result.no_face)})</h2><ul>")
    for i in result.no_face[:top]:
        parts.append(f"<li>{name(i)}: {html.escape(result.faces.reason[i])}</li>")
    parts.append("</ul></body></html>")
    target = out / "report.html"
    target.write_text("\n".join(parts), encoding="utf-8")
    return target
