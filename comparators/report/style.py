"""The HTML report's stylesheet, inline in the page so the file needs nothing else to render.

System font stacks only (no web fonts to fetch), a readable measure, tables with tabular
figures so numbers line up, and side-by-side answers that stack on narrow screens.
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg-soft: #f6f8fa;
  --pass: #1a7f37; --fail: #cf222e; --inconclusive: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px 32px 64px; color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid
  var(--line); }
h3 { font-size: 15px; margin: 20px 0 8px; }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); font-weight: normal; }
.note { background: #fff8c5; border-left: 3px solid #d4a72c; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; margin: 8px 0 16px; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left;
  vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
table.num td { font-variant-numeric: tabular-nums; }
tbody tr:hover { background: var(--bg-soft); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-size: 12px; font-weight: 600; letter-spacing: .02em; }
.badge.pass { background: var(--pass); }
.badge.fail { background: var(--fail); }
.badge.inconclusive { background: var(--inconclusive); }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px;
  background: #fff; max-width: 100%; overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
article.pair { border: 1px solid var(--line); border-radius: 6px; margin: 12px 0;
  padding: 8px 12px; }
.facts { margin: 0 0 6px; color: var(--muted); }
.prompt pre, .sides pre { white-space: pre-wrap; word-wrap: break-word; background:
  var(--bg-soft); padding: 8px; border-radius: 4px; margin: 4px 0 8px; max-height: 420px;
  overflow: auto; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 800px) { .sides { grid-template-columns: 1fr; } }
ins { background: #dafbe1; text-decoration: none; }
del { background: #ffebe9; text-decoration: line-through; }
"""
