"""Reports: Newcombe intervals, comparisons, training curves, and the page in headless Chromium (opens
with no console errors, shows the table and filmstrips, sorts on a header click, screenshots non-blank)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from test_eval import DONE, TAP, ScriptedPolicy, call

from gui_grpo.eval.evaluate import EvalConfig, run_evaluation
from gui_grpo.eval.report.build import render_report, write_report
from gui_grpo.eval.report.compare import compare_summaries, newcombe_interval
from gui_grpo.eval.report.runs import ReportError, load_run
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def two_evals(tiny_model_dir, tmp_path_factory):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    builder = PromptBuilder(processor, "qwen2_5_vl", PromptConfig())
    root = tmp_path_factory.mktemp("evals")
    swipe = call(action="swipe", coordinate=[200, 600], coordinate2=[200, 200])
    scripts = {"a": [TAP, "not an action", DONE], "b": [swipe, DONE]}
    for name, texts in scripts.items():
        cfg = EvalConfig(model="tiny", out=str(root / name), episodes=3, devices="sim:3", seed=2)
        run_evaluation(cfg, policy=ScriptedPolicy(builder, texts))
    return root / "a", root / "b"


def test_newcombe_interval_matches_the_paper():
    # Newcombe (1998), example: 56/70 vs 48/80, difference 0.2 with 95% interval (0.0524, 0.3339).
    lo, hi = newcombe_interval(48, 80, 56, 70)
    assert lo == pytest.approx(0.0524, abs=1e-4) and hi == pytest.approx(0.3339, abs=1e-4)
    assert newcombe_interval(0, 0, 1, 2) == (-1.0, 1.0)


def test_compare_summaries_rows_and_significance():
    def row(k, n):
        return {"scored": n, "successes": k, "success_rate": k / n}

    a = {"overall": row(2, 40), "by_template": {"t": row(2, 40)}, "by_app": {"X": row(2, 40)}}
    b = {"overall": row(30, 40), "by_template": {"t": row(30, 40), "u": row(1, 2)},
         "by_app": {"X": row(30, 40)}}
    rows = {(d.group, d.name): d for d in compare_summaries(a, b)}
    overall = rows[("overall", "overall")]
    assert overall.diff == pytest.approx(0.7) and overall.significant
    assert rows[("template", "u")].diff is None  # A never played it


def test_comparison_report_and_plots(two_evals, tmp_path):
    a, b = two_evals
    out = write_report([a, b], tmp_path / "cmp" / "report.html")
    page = out.read_text()
    assert 'id="comparison"' in page and "B − A" in page
    assert (a / "success_by_app.png").stat().st_size > 1000  # in the run, not beside an --out elsewhere
    assert not list((tmp_path / "cmp").glob("*.png"))
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from a network
    # Invalid output on step 2 of every episode in A: its summary shows a third of steps invalid.
    summary = json.loads((a / "summary.json").read_text())
    assert summary["overall"]["invalid_action_rate"] == pytest.approx(1 / 3)


def test_training_run_report_has_curves(tmp_path):
    run = tmp_path / "train"
    run.mkdir()
    rows = [{"step": i + 1, "reward_mean": 0.1 * i, "success_rate": 0.05 * i, "loss": 1 / (i + 1)}
            for i in range(6)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "config.json").write_text(json.dumps({"suite": "smoke"}))
    out = write_report([run])
    assert "Training curves" in out.read_text()
    assert Image.open(run / "training_curves.png").size[0] > 300


def test_report_rejects_what_is_not_a_run(tmp_path, two_evals):
    with pytest.raises(ReportError, match="holds no run"):
        load_run(tmp_path)
    with pytest.raises(ReportError):
        render_report([load_run(two_evals[0])] * 3)


def _chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={user_dir}", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(two_evals, tmp_path):
    a, b = two_evals
    report = write_report([a, b], tmp_path / "r" / "report.html")
    # A probe page: the report with an error trap first and, after it loads, a click on the "name"
    # header of run A's summary table; both write what they saw into the DOM for --dump-dom.
    trap = ("<script>window.__errs=[];window.onerror=function(m){window.__errs.push(String(m))};"
            "var _ce=console.error;console.error=function(){window.__errs.push([].join.call(arguments,' '));"
            "_ce.apply(console,arguments)};</script>")
    probe = ("<script>window.addEventListener('load',function(){"
             "var t=document.getElementById('summary-0');t.tHead.rows[0].cells[1].click();"
             "var names=[].map.call(t.tBodies[0].rows,function(r){return r.cells[1].textContent});"
             "document.body.setAttribute('data-sorted',JSON.stringify(names));"
             "document.body.setAttribute('data-errors',JSON.stringify(window.__errs));});</script>")
    page = report.read_text().replace("<head>", "<head>" + trap, 1).replace("</body>", probe + "</body>")
    probe_file = tmp_path / "r" / "probe.html"
    probe_file.write_text(page)
    dom = _chromium("--enable-logging=stderr", "--v=0", "--dump-dom", probe_file.as_uri(),
                    user_dir=tmp_path / "u1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "data-errors=\"[]\"" in dom.stdout, re.findall(r'data-errors="[^"]*"', dom.stdout)
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr.replace("CONSOLE(0)", "")
    found = re.search(r"data-sorted=\"([^\"]*)\"", dom.stdout).group(1)
    sorted_names = json.loads(found.replace("&quot;", '"'))
    assert sorted_names == sorted(sorted_names, key=str.lower) and "overall" in sorted_names
    assert dom.stdout.count('class="episode fail"') == 6  # both runs' episodes, failures first
    assert dom.stdout.count("<figure>") >= 6 and 'src="data:image/webp;base64,' in dom.stdout
    shot = tmp_path / "shot.png"
    res = _chromium("--window-size=1200,1800", f"--screenshot={shot}", report.as_uri(),
                    user_dir=tmp_path / "u2")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    image = Image.open(shot).convert("L")
    lo, hi = image.getextrema()
    assert hi - lo > 100  # text, tables and frames, not a blank page
    colours = len(set(Image.open(shot).convert("RGB").resize((300, 450)).get_flattened_data()))
    assert colours > 200  # the filmstrip's screenshots and the plot are drawn


@pytest.fixture
def job(two_evals, tmp_path):
    """A main-job directory as `gui-grpo train` writes it, from two scripted evaluations (the second with
    its first episode marked successful, so that one outcome changed)."""
    a, b = two_evals
    job = tmp_path / "quickstart"
    shutil.copytree(a, job / "eval_warm_test")
    shutil.copytree(b, job / "eval_grpo_test")
    episodes = job / "eval_grpo_test" / "episodes.jsonl"
    records = [json.loads(line) for line in episodes.read_text().splitlines()]
    records[0]["success"] = True
    episodes.write_text("".join(json.dumps(r) + "\n" for r in records))
    summaries = [json.loads((job / d / "summary.json").read_text()) for d in ("eval_warm_test",
                                                                             "eval_grpo_test")]
    (job / "quickstart.json").write_text(json.dumps({
        "preset": {"name": "quickstart"}, "minutes": 21.5, "code_version": "git:abc",
        "before_test": summaries[0]["overall"], "after_test": summaries[1]["overall"]}))
    (job / "grpo").mkdir()
    rows = [{"step": i + 1, "success_rate": (i % 3) / 3, "reward_mean": 0.1 * i, "invalid_action_rate": 0.02,
             "episode_length": 4.0, "approx_kl": 1e-9 * i, "elapsed_s": 6.0 * (i + 1),
             **({"eval_success_rate": 0.5} if (i + 1) % 10 == 0 else {})} for i in range(40)]
    (job / "grpo" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (job / "warm_start").mkdir()
    epochs = [{"epoch": e + 1, "loss": 1.5 / (e + 1), "seconds": 30.0 * (e + 1)} for e in range(5)]
    (job / "warm_start" / "sft.json").write_text(json.dumps({"epochs": epochs}))
    return job


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_the_main_job_directory_is_one_page_in_headless_chromium(job, tmp_path):
    report = write_report([job])
    assert (job / "curves.png").stat().st_size > 5000
    dom = _chromium("--dump-dom", report.as_uri(), user_dir=tmp_path / "u")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "Before and after GRPO" in page and "warm start, test-split params" in page
    assert "GRPO, test-split params" in page and "took 21.5 minutes" in page
    assert 'alt="training curves" src="data:image/png;base64,' in page
    assert "Per template (test): GRPO − warm start, 95% intervals" in page
    assert "Episodes GRPO changed (test): 1 now succeed, 0 now fail" in page
    assert page.count('class="pair"') == 1 and page.count('class="episode ') == 2  # the pair, nothing else
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
