"""report-compact.tex: each table with the terminal's columns as a booktabs table*, checked against report.json's
numbers; and, where pdflatex is installed, that both LaTeX files compile in a two-column article and that the
compact tables fit its text width (the full ones do not: that is why the compact file exists)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from newsbench import report

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example"


@pytest.fixture(scope="module")
def written(tmp_path_factory, tiny_dir):
    out = tmp_path_factory.mktemp("latex")
    report.print_and_write(EXAMPLE, out_dir=out, fmt="csv", n_resamples=199, card=tiny_dir / "dataset_card.json")
    return out, json.loads((out / "report.json").read_text())


def _table(tex: str, key: str) -> str:
    start = tex.index(f"\\label{{tab:{key}-compact}}")
    return tex[start:tex.index("\\end{table*}", start)]


def test_every_table_once_with_its_label_and_pointer(written):
    out, saved = written
    tex = (out / "report-compact.tex").read_text()
    keys = list(saved["tables"])
    assert tex.count("\\begin{table*}") == tex.count("\\end{table*}") == len(keys)
    for key in keys:
        assert f"Every column and the full notes: report.tex, {key}.csv." in _table(tex, key)


def test_ablation_cells_are_report_json_numbers(written):
    out, saved = written
    block = _table((out / "report-compact.tex").read_text(), "ablation")
    assert "Configuration & AUC & $\\Delta$AUC & 95\\% CI & p impr. & p seed & Verdict" in block
    # the label without its mark (the placebo's double dagger)
    rows = {line.split(" & ")[0].split("\\textsuperscript")[0]: line.split(" & ")
            for line in block.splitlines() if " & " in line}
    checked = 0
    for r in saved["tables"]["ablation"]["rows"]:
        if r.get("ci_low") is None or r.get("auc_std") is None:       # the reference rows: no test or no seeds
            continue
        cells = rows[r["configuration"].replace("_", "\\_")]
        # mean ± std to 4 decimals (bold when best), the CI to 3, as the terminal prints them
        assert f"{r['auc_mean']:.4f} $\\pm$ {r['auc_std']:.4f}" in cells[1]
        assert cells[3] == f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        assert cells[-1].rstrip(" \\") == r["verdict"]
        checked += 1
    assert checked == 6                 # the six configurations tested against id


def test_weights_blocks_name_their_configuration(written):
    out, saved = written
    block = _table((out / "report-compact.tex").read_text(), "weights")
    for config in {r["configuration"] for r in saved["tables"]["weights"]["rows"]}:
        assert f"\\textit{{{config}}}}} \\\\" in block


def _compile(folder: Path, name: str) -> str:
    (folder / "main.tex").write_text("\n".join([
        r"\documentclass[twocolumn]{article}", r"\usepackage[margin=0.75in]{geometry}", r"\usepackage{booktabs}",
        r"\usepackage{graphicx}", r"\begin{document}", rf"\input{{{name}}}", r"\end{document}", ""]))
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=120)
    log = (folder / "main.log").read_text(errors="replace")
    assert res.returncode == 0, log[-3000:]
    return log


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_both_files_compile_and_the_compact_tables_fit(written):
    out, _ = written
    full = _compile(out, "report.tex")
    assert re.search(r"Overfull \\hbox \((\d+)", full)           # the full tables are wider than the page
    compact = _compile(out, "report-compact.tex")
    assert "Overfull \\hbox" not in compact, re.findall(r"Overfull \\hbox.*", compact)
