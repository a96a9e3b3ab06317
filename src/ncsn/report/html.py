"""Render report sections to one self-contained HTML page (figures are files beside it)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

VERDICTS = ("reproduced", "not reproduced", "partly reproduced", "not comparable")


@dataclass
class Claim:
    """One statement of the poster next to what this run measured."""
    claim: str
    poster: str
    measured: str
    verdict: str
    note: str = ""

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
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.verdict { font-weight: 600; padding: 0.1em 0.4em; border-radius: 3px; white-space: nowrap; }
.reproduced { background: #d9f2d9; } .not-reproduced { background: #f8d7d7; }
.partly-reproduced { background: #fff1c2; } .not-comparable { background: #e4e4f4; }
nav a { margin-right: 1em; } .meta { color: #666; font-size: 0.9em; }
"""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def table_html(frame: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    formatters = {c: float_format.format for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}
    return frame.to_html(index=False, border=0, formatters=formatters, na_rep="–", escape=True)


def claims_html(claims: list[Claim], with_section: list[str] | None = None) -> str:
    head = ["Section"] if with_section else []
    head += ["Poster's claim", "Poster", "Reproduced", "Verdict", "Why / note"]
    rows = []
    for i, c in enumerate(claims):
        cells = [html.escape(with_section[i])] if with_section else []
        cells += [html.escape(c.claim), html.escape(c.poster), html.escape(c.measured),
                  f'<span class="verdict {c.verdict.replace(" ", "-")}">{html.escape(c.verdict)}</span>',
                  html.escape(c.note)]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def section_html(section: Section) -> str:
    parts = [f'<section id="{_slug(section.title)}"><h2>{html.escape(section.title)}</h2>', section.text]
    if section.claims:
        parts.append(claims_html(section.claims))
    for caption, frame in section.tables:
        parts.append(f"<h3>{html.escape(caption)}</h3>{table_html(frame)}")
    for path, caption in section.figures:
        parts.append(f'<figure><img src="{html.escape(str(path))}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts)


def page_html(title: str, subtitle: str, sections: list[Section]) -> str:
    all_claims = [c for s in sections for c in s.claims]
    owners = [s.title for s in sections for _ in s.claims]
    nav = " ".join(f'<a href="#{_slug(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    summary = (f'<section id="summary"><h2>Summary: the poster\'s numbers beside ours</h2>'
               f"{claims_html(all_claims, owners)}</section>") if all_claims else ""
    body = "\n".join(section_html(s) for s in sections)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="meta">{subtitle}</p><nav>{nav}</nav>{summary}{body}</body></html>\n')
