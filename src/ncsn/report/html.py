"""Render report sections to one self-contained HTML page (figures are files beside it)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# "inconclusive": the measurement could not tell the poster's effect from no effect (ncsn.verdicts).
VERDICTS = ("reproduced", "not reproduced", "partly reproduced", "inconclusive", "not comparable")


@dataclass
class Claim:
    """One statement of the poster next to what this run measured."""

    claim: str
    poster: str
    measured: str
    verdict: str
    note: str = ""
    # The numbers behind the verdict, for claims.json (JSON values only): e.g. the deciding metric, the
    # paired difference with its interval, the poster's effect, the minimum detectable effect and power,
    # and where the measurement was taken (epochs / iterations).
    evidence: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass
class Section:
    title: str
    text: str  # HTML paragraphs
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (path relative to the page, caption)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table)
    claims: list[Claim] = field(default_factory=list)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f3f3f3; } td.num, th.num { text-align: right; } td.num { white-space: nowrap; }
table.claims td { font-size: 0.95em; } table.claims td.rule { color: #555; font-size: 0.85em; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #335; }
.scroll { overflow-x: auto; max-width: 100%; }
.note { background: #f6f6fb; border-left: 3px solid #99c; padding: 0.5em 0.8em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.verdict { font-weight: 600; padding: 0.1em 0.4em; border-radius: 3px; white-space: nowrap; }
.reproduced { background: #d9f2d9; } .not-reproduced { background: #f8d7d7; }
.partly-reproduced { background: #fff1c2; } .not-comparable { background: #e4e4f4; }
.inconclusive { background: #ececec; }
nav a { margin-right: 1em; } .meta { color: #666; font-size: 0.9em; }
"""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _numeric_text(text: str) -> bool:
    """Cells that read as numbers (also '12.3 [10.1, 14.5]') are right-aligned, text left-aligned."""
    return bool(text) and (text[0].isdigit() or (text[0] in "-+–." and len(text) > 1) or text == "–")


def table_html(frame: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}

    def cell(column, value) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            text = "–"
        elif isinstance(value, float):
            text = float_format.format(value)
        else:
            text = str(value)
        align = ' class="num"' if column in numeric or _numeric_text(text) else ""
        return f"<td{align}>{html.escape(text)}</td>"

    num = ' class="num"'
    head = "".join(f"<th{num if c in numeric else ''}>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    # a wide table scrolls inside its own box, so the page keeps the window's width
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def claims_html(claims: list[Claim], with_section: list[str] | None = None) -> str:
    """The summary (with_section: one short row per claim) or a section's claims with measurement and rule."""

    def badge(verdict: str) -> str:
        return f'<span class="verdict {verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'

    if with_section:
        head = ["Section", "Poster's claim", "Poster", "Verdict"]
        rows = [
            "<tr>"
            + "".join(
                f"<td>{cell}</td>"
                for cell in [
                    html.escape(with_section[i]),
                    html.escape(c.claim),
                    html.escape(c.poster),
                    badge(c.verdict),
                ]
            )
            + "</tr>"
            for i, c in enumerate(claims)
        ]
    else:
        head = ["Poster's claim", "Poster", "Measured here", "Verdict"]
        rows = []
        for c in claims:
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{cell}</td>"
                    for cell in [html.escape(c.claim), html.escape(c.poster), html.escape(c.measured), badge(c.verdict)]
                )
                + "</tr>"
            )
            if c.note:
                rows.append(f'<tr><td class="rule" colspan="4">{html.escape(c.note)}</td></tr>')
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="claims"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def section_html(section: Section) -> str:
    """Figures first, then the verdicts with their measurements and rules, then the tables folded away."""
    parts = [f'<section id="{_slug(section.title)}"><h2>{html.escape(section.title)}</h2>', section.text]
    for path, caption in section.figures:
        parts.append(
            f'<figure><img src="{html.escape(str(path))}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if section.claims:
        parts.append(claims_html(section.claims))
    for caption, frame in section.tables:
        parts.append(
            f"<details><summary>{html.escape(caption)} ({len(frame)} rows)</summary>{table_html(frame)}</details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def page_html(title: str, subtitle: str, sections: list[Section], note: str = "") -> str:
    all_claims = [c for s in sections for c in s.claims]
    owners = [s.title for s in sections for _ in s.claims]
    nav = " ".join(f'<a href="#{_slug(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    summary = (
        (
            f'<section id="summary"><h2>Summary: the poster\'s numbers beside ours</h2>'
            f"{claims_html(all_claims, owners)}</section>"
        )
        if all_claims
        else ""
    )
    body = "\n".join(section_html(s) for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="meta">{subtitle}</p>{f"<p class=note>{html.escape(note)}</p>" if note else ""}'
        f"<nav>{nav}</nav>{summary}{body}</body></html>\n"
    )
