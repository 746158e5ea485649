"""The HTML report: one self-contained file (inline CSS, a few lines of inline JS, images as data URIs),
so it opens offline, from an e-mail or an artefact store, with no network fetches.

Sections: the settings of each run; for two evaluations a comparison table (B − A with 95% intervals);
per run a summary table (overall, per template, per app), sortable by clicking a header; plots; and
per-episode filmstrips (annotated frames, parsed actions, raw model output), failures first.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from gui_grpo.eval.report.compare import Difference, compare_summaries, setting_differences
from gui_grpo.eval.report.runs import RunData
from gui_grpo.rollout.trajectories import TrajectoryError, load_step_rows

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em;background:#fff}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}
th.sortable-h{cursor:pointer;background:#eef;user-select:none}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#070}.neg{color:#b00}.meta td:first-child{font-weight:600}
.episode{margin:.8em 0;padding:.5em;background:#fff;border:1px solid #ddd;border-left:5px solid #999}
.episode.fail{border-left-color:#c33}.episode.ok{border-left-color:#3a3}.episode.lost{border-left-color:#888}
.strip{display:flex;gap:6px;overflow-x:auto;padding-bottom:4px}
figure{margin:0;flex:0 0 auto;max-width:200px;font-size:.72em}
figure img{width:200px;border:1px solid #ccc;display:block}
figcaption{word-break:break-all}
pre{white-space:pre-wrap;font-size:.9em;max-height:10em;overflow:auto;background:#f4f4f4;margin:2px 0}
.badge{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:.8em}
.b-ok{background:#3a3}.b-fail{background:#c33}.b-lost{background:#888}.b-warn{background:#d80}
img.plot{max-width:100%;border:1px solid #ddd;background:#fff}
"""

_JS = """
(function(){
  function key(cell){var v=cell.getAttribute('data-v');if(v===null)v=cell.textContent.trim();
    var n=parseFloat(v);return isNaN(n)?{s:v.toLowerCase()}:{n:n};}
  function cmp(a,b){if(a.n!==undefined&&b.n!==undefined)return a.n-b.n;
    var x=a.s!==undefined?a.s:String(a.n),y=b.s!==undefined?b.s:String(b.n);return x<y?-1:x>y?1:0;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th,col){
      th.classList.add('sortable-h');
      th.addEventListener('click',function(){
        var asc=th.getAttribute('data-dir')!=='asc';
        table.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir');});
        th.setAttribute('data-dir',asc?'asc':'desc');
        var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(r1,r2){var c=cmp(key(r1.cells[col]),key(r2.cells[col]));return asc?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
})();
"""

Cell = str | tuple[str, Any]  # display text, or (display text, sort value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def table(headers: list[str], rows: list[list[Cell]], css: str = "sortable", tid: str = "") -> str:
    """A table; cells given as (text, value) sort by value."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                text, value = cell
                v = "" if value is None else _e(value)
                cells.append(f'<td class="num" data-v="{v}">{_e(text)}</td>')
            else:
                cells.append(f"<td>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    id_attr = f' id="{_e(tid)}"' if tid else ""
    rows_html = "".join(body)
    return f'<table class="{css}"{id_attr}><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'


def _rate_cells(r: dict[str, Any]) -> list[Cell]:
    lo, hi = r["success_ci95"]
    return [
        (str(r["scored"]), r["scored"]),
        (_pct(r["success_rate"]), r["success_rate"]),
        (f"{_pct(lo)} – {_pct(hi)}", lo),
        ("–" if r["mean_steps"] is None else f"{r['mean_steps']:.2f}", r["mean_steps"]),
        (_pct(r["invalid_action_rate"]), r["invalid_action_rate"]),
        (_pct(r["false_completion_rate"]), r["false_completion_rate"]),
        (_pct(r["side_effect_rate"]), r["side_effect_rate"]),
        (str(r["lost"]), r["lost"]),
    ]


SUMMARY_HEADERS = ["group", "name", "episodes", "success", "95% CI", "mean steps", "invalid actions",
                   "false completions", "side effects", "lost"]


def summary_table(summary: dict[str, Any], tid: str = "") -> str:
    rows: list[list[Cell]] = [["overall", "overall", *_rate_cells(summary["overall"])]]
    for group, key in (("template", "by_template"), ("app", "by_app")):
        rows += [[group, name, *_rate_cells(r)] for name, r in summary.get(key, {}).items()]
    return table(SUMMARY_HEADERS, rows, tid=tid)


def comparison_table(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    rows: list[list[Cell]] = []
    for d in compare_summaries(a, b):
        rows.append([d.group, d.name, *_side(d.a), *_side(d.b), *_diff_cells(d)])
    headers = ["group", "name", f"{names[0]} n", f"{names[0]} success", f"{names[1]} n",
               f"{names[1]} success", "B − A", "95% CI of B − A", "interval excludes 0"]
    return table(headers, rows, tid="comparison")


def _side(r: dict[str, Any] | None) -> list[Cell]:
    if not r:
        return [("0", 0), ("–", None)]
    lo, hi = r["success_ci95"]
    return [(str(r["scored"]), r["scored"]), (f"{_pct(r['success_rate'])} [{_pct(lo)}, {_pct(hi)}]",
                                              r["success_rate"])]


def _diff_cells(d: Difference) -> list[Cell]:
    if d.diff is None or d.ci95 is None:
        return [("–", None), ("–", None), "–"]
    sign = "+" if d.diff > 0 else ""
    return [(f"{sign}{100 * d.diff:.1f} pts", d.diff),
            (f"{100 * d.ci95[0]:+.1f} … {100 * d.ci95[1]:+.1f}", d.ci95[0]),
            "yes" if d.significant else "no"]


def settings_table(run: RunData) -> str:
    s = run.summary or {}
    keys = ("model", "adapter", "suite", "split", "devices", "seed", "decoding", "temperature",
            "max_new_tokens", "max_steps", "family", "action_format", "observation", "code_version",
            "created", "lost_devices", "wall_s")
    rows = [f"<tr><td>{_e(k)}</td><td>{_e(s[k])}</td></tr>" for k in keys if k in s]
    if run.config:
        rows.append(f"<tr><td>training config</td><td><pre>{_e(json.dumps(run.config, indent=1))}</pre>"
                    "</td></tr>")
    rows.insert(0, f"<tr><td>run</td><td>{_e(run.path)}</td></tr>")
    return f'<table class="meta">{"".join(rows)}</table>'


def _badge(rec: dict[str, Any]) -> str:
    if rec.get("is_lost"):
        return f'<span class="badge b-lost">lost: {_e(rec.get("lost"))}</span>'
    if rec.get("success") is None:  # a deployment run: no checker
        return f'<span class="badge b-lost">{_e(rec.get("mode", "run"))}, not checked</span>'
    parts = [f'<span class="badge {"b-ok" if rec["success"] else "b-fail"}">'
             f'{"success" if rec["success"] else "failure"} (score {rec["score"]:.2f})</span>']
    if rec.get("false_completion"):
        parts.append('<span class="badge b-warn">false completion</span>')
    if rec.get("side_effect"):
        parts.append(f'<span class="badge b-warn">side effects: {_e(", ".join(rec["side_effects"]))}</span>')
    if rec.get("truncated"):
        parts.append('<span class="badge b-lost">step cap</span>')
    return " ".join(parts)


def _frame(directory: Path, i: int, row: dict[str, Any]) -> str:
    img = ""
    if row.get("frame"):
        path = directory / row["frame"]
        if path.is_file():
            img = f'<img alt="step {i + 1}" src="{data_uri(path.read_bytes(), "image/webp")}">'
    status = f" · {_e(row['status'])}" if row.get("status") else ""
    note = f"<br><i>{_e(row['note'])}</i>" if row.get("note") else ""
    seen = ""
    if row.get("prompt_text") or row.get("elements"):
        elements = "\n".join(row.get("elements") or []) or "(none listed)"
        seen = (f"<details><summary>what it saw</summary><pre>{_e(user_turn(row.get('prompt_text', '')))}"
                f"</pre><pre>{_e(elements)}</pre></details>")
    return (f"<figure>{img}<figcaption><b>{i + 1}.</b> {_e(row['action'])}{status}{note}"
            f"<details><summary>model output</summary><pre>{_e(row['output_text'])}</pre></details>{seen}"
            "</figcaption></figure>")


def user_turn(prompt_text: str) -> str:
    """The last user turn of a chat prompt (task, history, element list), without the system prompt."""
    start = prompt_text.rfind("<|im_start|>user\n")
    if start < 0:
        return prompt_text
    body = prompt_text[start + len("<|im_start|>user\n"):]
    image = "<|vision_start|><|image_pad|><|vision_end|>"
    return body.split("<|im_end|>", 1)[0].replace(image, " [screenshot]")


def _verdict(rec: dict[str, Any]) -> str:
    """What the checker said: its score, the answer it expected beside the agent's (for a question), and
    the unrelated changes it found."""
    if rec.get("is_lost") or "score" not in rec:
        return ""
    expected = ""
    if rec.get("expected_answer") is not None:
        given = "nothing" if rec.get("answer") is None else f"<q>{_e(rec['answer'])}</q>"
        expected = f" · expected: <q>{_e(rec['expected_answer'])}</q>, answered: {given}"
    effects = rec.get("side_effects") or []
    more = f"; also changed: {_e('; '.join(effects))}" if effects else ""
    return f"<br><small>checker: score {float(rec['score']):.2f}{expected}{more}</small>"


def filmstrip(run: RunData, rec: dict[str, Any]) -> str:
    directory = run.path / "episodes" / rec["dir"] if run.summary else run.path / rec["dir"]
    try:
        rows = load_step_rows(directory)
    except TrajectoryError:
        rows = []
    frames = "".join(_frame(directory, i, row) for i, row in enumerate(rows)) or "<i>no steps</i>"
    state = "lost" if rec.get("is_lost") else "ok" if rec.get("success") else "fail"
    answer = f" · answer: <q>{_e(rec['answer'])}</q>" if rec.get("answer") is not None else ""
    claim = f" · claimed {_e(rec['claimed_status'])}" if rec.get("claimed_status") else ""
    return (f'<div class="episode {state}"><div><b>#{_e(rec.get("index", ""))} {_e(rec["task"])}</b> '
            f"— {_e(rec['instruction'])} {_badge(rec)}{claim}{answer} · {rec['num_steps']} steps"
            f"{_verdict(rec)}</div>"
            f'<div class="strip">{frames}</div></div>')


def filmstrips(run: RunData, max_episodes: int) -> str:
    """Episodes failures first (then lost, then successes), each in its original order."""
    order = sorted(run.records, key=lambda r: (r.get("success", False), bool(r.get("is_lost")),
                                               r.get("index", 0)))
    shown = order[:max_episodes]
    more = len(order) - len(shown)
    tail = f"<p>{more} more episodes not shown (raise --max-episodes).</p>" if more > 0 else ""
    return "".join(filmstrip(run, rec) for rec in shown) + tail


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>'
            f"</head><body><h1>{_e(title)}</h1>{body}<script>{_JS}</script></body></html>")


def settings_diff_table(a: RunData, b: RunData) -> str:
    diffs = setting_differences(a.summary or {}, b.summary or {})
    if not diffs:
        return "<p>The two evaluations used the same settings.</p>"
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(x)}</td><td>{_e(y)}</td></tr>" for k, (x, y) in diffs.items()
    )
    return f'<table class="meta"><tr><th>setting</th><th>A</th><th>B</th></tr>{rows}</table>'
