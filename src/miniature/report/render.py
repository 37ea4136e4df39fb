"""Render a report Document as one self-contained HTML page (figures inlined) or as Markdown."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape

from miniature.report.document import Cards, Document, Figure, KeyValues, Paragraph, TableBlock, fmt
from miniature.tables import to_markdown

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); }
header { background: linear-gradient(135deg, #1e3a8a, #2563eb); color: #fff; padding: 36px 0 28px; }
header h1 { margin: 0 0 10px; font-size: 30px; font-weight: 650; }
header p { margin: 0; max-width: 860px; opacity: .93; }
.wrap { max-width: 1120px; margin: 0 auto; padding: 0 28px; }
nav { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid var(--line); }
nav a { display: inline-block; padding: 10px 12px; color: var(--accent); text-decoration: none; font-size: 14px; }
nav a:hover { background: #eff6ff; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; margin: 22px 0; padding: 6px 26px 20px; }
h2 { font-size: 21px; margin: 18px 0 8px; }
p.note { color: var(--muted); background: #fffbeb; border-left: 4px solid #f59e0b; padding: 8px 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px; margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; background: #f9fafb; }
.card .label { font-size: 13px; color: var(--muted); }
.card .value { font-size: 28px; font-weight: 700; color: #1e3a8a; margin: 2px 0; }
.card .why { font-size: 12.5px; color: var(--muted); }
.scroll { overflow-x: auto; margin: 12px 0 18px; }
table { border-collapse: collapse; font-size: 13.5px; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: 4px 0 8px; color: var(--ink); }
th, td { padding: 6px 11px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: #f1f5f9; font-weight: 600; font-size: 12.5px; white-space: normal; vertical-align: bottom;
     max-width: 130px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.na { color: #cbd5e1; text-align: center; }
tbody tr:hover { background: #f8fafc; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; justify-content: center; margin: 16px 0 22px; }
.figs figure { flex: 1 1 420px; max-width: 600px; }
.figs figure.wide { flex-basis: 100%; max-width: 100%; }
figure { margin: 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 8px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
details { margin: 14px 0; } summary { cursor: pointer; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; font-size: 13.5px; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-all; font-family: ui-monospace, monospace; }
footer { color: var(--muted); font-size: 12.5px; padding: 8px 0 40px; }
"""

# sets <body data-images-loaded="N">: the figures that decoded, so a headless browser can check them
SCRIPT = """window.addEventListener("load", function () {
  var n = 0;
  document.querySelectorAll("img").forEach(function (i) { if (i.complete && i.naturalWidth > 0) n++; });
  document.body.setAttribute("data-images-loaded", String(n));
});"""


def _shade(value: object) -> str:
    """An inline background for an agreement in [0, 1]: the stronger the agreement, the deeper the blue."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        return ""
    return f' style="background-color: rgba(37, 99, 235, {0.06 + 0.5 * float(value):.2f})"'


def html_table(t: TableBlock) -> str:
    head = "".join(f'<th title="{escape(c)}">{escape(c.replace("_", " "))}</th>' for c in t.columns)
    body = []
    for r in t.rows:
        cells = []
        for c in t.columns:
            v = r.get(c)
            text = fmt(v, t.digits)
            if text == "":
                cells.append('<td class="na">–</td>')
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                cells.append(f'<td class="num"{_shade(v) if c in t.shade else ""}>{escape(text)}</td>')
            else:
                cells.append(f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><caption>{escape(t.caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def html_block(block: object, images: Mapping[str, bytes]) -> str:
    if isinstance(block, Paragraph):
        return f'<p class="note">{escape(block.text)}</p>' if block.note else f"<p>{escape(block.text)}</p>"
    if isinstance(block, Cards):
        cards = "".join(f'<div class="card"><div class="label">{escape(label)}</div><div class="value">'
                        f'{escape(value)}</div><div class="why">{escape(why)}</div></div>'
                        for label, value, why in block.items)
        return f'<div class="cards">{cards}</div>'
    if isinstance(block, TableBlock):
        return html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(images[block.name]).decode("ascii")
        wide = ' class="wide"' if block.wide else ""
        return (f'<figure{wide}><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}" '
                f'data-name="{escape(block.name)}"><figcaption>{escape(block.caption)}</figcaption></figure>')
    if isinstance(block, KeyValues):
        items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in block.items)
        if block.collapsed:
            return f"<details><summary>{escape(block.caption)}</summary><dl>{items}</dl></details>"
        return f"<h3>{escape(block.caption)}</h3><dl>{items}</dl>"
    raise TypeError(f"unknown report block {type(block).__name__}")


def html_blocks(blocks: Sequence[object], images: Mapping[str, bytes]) -> str:
    """Blocks in order; consecutive figures share one row that wraps on narrow screens."""
    out, figs = [], []
    for b in [*blocks, None]:
        if isinstance(b, Figure):
            figs.append(html_block(b, images))
            continue
        if figs:
            out.append(f'<div class="figs">{"".join(figs)}</div>')
            figs = []
        if b is not None:
            out.append(html_block(b, images))
    return "".join(out)


def to_html(doc: Document, images: Mapping[str, bytes], footer: str = "") -> str:
    """One HTML file holding everything: CSS inline, every figure a base64 PNG, no external links.

    Args:
        images: figure file name -> its PNG bytes, for every Figure the document shows.
    """
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in doc.sections)
    sections = "".join(
        f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>{html_blocks(s.blocks, images)}</section>'
        for s in doc.sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>"
        f'<header><div class="wrap"><h1>{escape(doc.title)}</h1><p>{escape(doc.lead)}</p></div></header>'
        f'<nav><div class="wrap">{nav}</div></nav><main class="wrap">{sections}</main>'
        f'<footer class="wrap">{escape(footer)}</footer><script>{SCRIPT}</script></body></html>\n'
    )


def to_md(doc: Document, footer: str = "") -> str:
    """The same report as Markdown; figures are linked as the PNG files beside it."""
    out = [f"# {doc.title}", "", doc.lead, ""]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                out += [f"> {b.text}" if b.note else b.text, ""]
            elif isinstance(b, Cards):
                out += [f"- **{label}: {value}** ({why})" for label, value, why in b.items] + [""]
            elif isinstance(b, TableBlock):
                out += [f"**{b.caption}**", "", to_markdown(list(b.rows), list(b.columns), b.digits)]
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({b.name})", "", f"*{b.caption}*", ""]
            elif isinstance(b, KeyValues):
                out += [f"**{b.caption}**", ""] + [f"- {k}: `{v}`" for k, v in b.items] + [""]
    if footer:
        out += ["---", footer, ""]
    return "\n".join(out)
