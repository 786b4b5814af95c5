"""Exports a publisher accepts: TrueType fonts in every PDF, tick labels that never overprint,
markers on a bound drawn whole, and a table.tex with a caption, a label, the best values in
bold, a column subset and one footnote for attacks at chance, that fits an article's column."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from test_report_outputs import make_cell, two_by_two

from ftunlearn.cli import main
from ftunlearn.experiments.exports import parse_tex_columns, table_tex_text
from ftunlearn.experiments.plots import plot_figure, save_figure
from ftunlearn.experiments.report import summarize, write_report
from ftunlearn.tuning.figures import IMPORTANCE_MIN_TRIALS, importance_figure
from ftunlearn.tuning.space import log_uniform
from ftunlearn.tuning.study import MethodStudy

pypdf = pytest.importorskip("pypdf", reason="pypdf (the dev extra) reads the PDFs' fonts")


def pdf_fonts(data: bytes | Path) -> list[tuple[str, str]]:
    """(BaseFont, Subtype) of every font resource on every page, Type 0 descendants too."""
    reader = pypdf.PdfReader(data if isinstance(data, Path) else __import__("io").BytesIO(data))
    fonts = []

    def walk(resources) -> None:
        if resources is None:
            return
        resources = resources.get_object()
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            fonts.append((str(font.get("/BaseFont")), str(font["/Subtype"])))
            for child in font.get("/DescendantFonts") or []:
                child = child.get_object()
                fonts.append((str(child.get("/BaseFont")), str(child["/Subtype"])))
        for xobject in (resources.get("/XObject") or {}).values():
            walk(xobject.get_object().get("/Resources"))

    for page in reader.pages:
        walk(page.get("/Resources"))
    return fonts


def assert_truetype_only(data: bytes | Path) -> None:
    fonts = pdf_fonts(data)
    assert fonts, "the figure has text, so its PDF must embed a font"
    assert all(subtype != "/Type3" for _, subtype in fonts), fonts
    assert {s for _, s in fonts} <= {"/TrueType", "/Type0", "/CIDFontType2"}, fonts


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory):
    cells = [replace(c, metrics={**c.metrics, "MIA_attack_acc": 52.0 if c.method == "ft"
                                 else 80.0}) for c in two_by_two() if c.status == "ok"]
    run_dir = tmp_path_factory.mktemp("camera")
    return run_dir, cells, write_report(run_dir, cells, figure_formats=("png", "svg", "pdf"))


def test_every_pdf_the_report_writes_embeds_truetype_fonts_never_type3(report_run) -> None:
    run_dir, _, paths = report_run
    pdfs = sorted(run_dir.glob("*.pdf"))
    assert {p.stem for p in pdfs} == {p.stem for p in paths.plots}
    for pdf in pdfs:
        assert_truetype_only(pdf)


def test_every_figure_of_the_report_is_written_in_each_format_asked_for(report_run) -> None:
    _, _, paths = report_run
    assert paths.plots and all(png.suffix == ".png" for png in paths.plots)
    for png in paths.plots:
        assert png.read_bytes().startswith(b"\x89PNG")
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.usefixtures("all_figure_formats")
def test_the_tuning_importance_figure_embeds_truetype_and_caveats_few_trials() -> None:
    distribution = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    trials = tuple(
        optuna.trial.create_trial(params={"lr": 10 ** -(1 + i / 3)},
                                  distributions={"lr": distribution}, value=float(i))
        for i in range(3))
    trials = tuple(replace_number(t, i) for i, t in enumerate(trials))
    study = MethodStudy("ft", "ft-x", "minimize", (log_uniform("lr", 1e-4, 1e-1, "why"),), {},
                        trials)
    images = importance_figure(study, {"lr": 1.0}, "digits · mlp")
    assert_truetype_only(images["pdf"])
    svg = images["svg"].decode()
    assert f"from 3 complete trials only (fewer than {IMPORTANCE_MIN_TRIALS})" in svg


def replace_number(trial: optuna.trial.FrozenTrial, number: int) -> optuna.trial.FrozenTrial:
    trial.number = number
    return trial


def _rte_summary(rtes: dict[str, float]):
    cells = []
    for seed in (0, 1):
        cells.append(make_cell("golden", seed, UA=100.0, RA=100.0, TA=97.0, MIA=100.0,
                               avg_gap=0.0, rte_seconds=0.6 + seed / 10))
        for k, (method, rte) in enumerate(rtes.items()):
            cells.append(make_cell(method, seed, UA=100.0 - 40 * k, RA=99.0, TA=96.0,
                                   MIA=90.0, avg_gap=1.0 + k, rte_seconds=rte * (1 + seed / 5)))
    return summarize(cells)


def _visible_label_boxes(figure, axis):
    renderer = figure.canvas.get_renderer()
    labels = [t.label1 for t in (*axis.get_major_ticks(), *axis.get_minor_ticks())]
    return [label.get_window_extent(renderer) for label in labels
            if label.get_visible() and label.get_text()]


@pytest.mark.parametrize("rtes", [
    {"ft": 0.05, "rl": 0.09, "salun": 0.14, "rbm": 0.3},  # under a decade: minor labels
    {"ft": 0.002, "rl": 0.09, "salun": 3.0, "rbm": 40.0},  # four decades
], ids=["narrow", "wide"])
def test_avg_gap_vs_rte_tick_labels_never_overlap(rtes) -> None:
    figure = plot_figure("avg_gap_vs_rte", _rte_summary(rtes))
    figure.canvas.draw()
    [axes] = [a for a in figure.axes if a.get_xscale() == "log"]
    for axis in (axes.xaxis, axes.yaxis):
        boxes = _visible_label_boxes(figure, axis)
        assert len(boxes) >= 2
        for i, box in enumerate(boxes):
            assert not any(box.overlaps(other) for other in boxes[i + 1:]), axis


def test_ua_vs_ta_draws_markers_at_ua_100_whole() -> None:
    figure = plot_figure("ua_vs_ta", _rte_summary({"ft": 0.1, "rl": 0.2}))
    figure.canvas.draw()
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    assert high > 100.0 >= low
    frame = axes.get_window_extent()
    scale = figure.dpi / 72  # marker sizes are in points
    points = [(line, xy) for line in axes.lines if line.get_marker() not in ("", "None", None)
              for xy in line.get_xydata()]
    assert any(x == 100.0 for _, (x, _) in points)
    for line, (x, y) in points:
        px, py = axes.transData.transform((x, y))
        radius = line.get_markersize() * scale / 2
        assert frame.x0 <= px - radius and px + radius <= frame.x1, (line.get_label(), x)
        assert frame.y0 <= py - radius and py + radius <= frame.y1, (line.get_label(), y)


def test_table_tex_caption_label_bold_best_and_one_chance_footnote(report_run) -> None:
    _, _, paths = report_run
    tex = paths.exports["table.tex"].read_text()
    assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
    assert re.search(r"\\caption\{Unlearning results \(.*2 seeds.*\}", tex)
    assert "\\label{tab:ftunlearn-results}" in tex
    assert "\\resizebox{\\ifdim\\width>\\textwidth\\textwidth\\else\\width\\fi}{!}" in tex
    rows = {line.split(" & ")[0]: line.split(" & ") for line in tex.splitlines()
            if line.startswith(("golden &", "ft &", "salun &"))}
    header = next(line for line in tex.splitlines() if line.startswith("Method &"))
    columns = [c.strip(" \\") for c in header.split(" & ")]
    bold = {(method, columns[i]) for method, cells in rows.items()
            for i, cell in enumerate(cells) if "\\textbf{" in cell}
    # golden means: UA 6, RA 100, TA 94, MIA 12; ft 4, 98, 91, 6; salun 4.5, 97, 90, 11;
    # Avg Gap without MIA: ft 7/3 on both seeds, salun 5/3 and 4
    assert bold == {("salun", "UA"), ("ft", "RA"), ("ft", "TA"), ("salun", "MIA"),
                    ("salun", "Avg Gap"), ("ft", "Avg Gap (no MIA)"),
                    ("salun", "Forget-loss gap"), ("ft", "RTE (s)")}
    # the attack at chance is one mark in ft's MIA cell and one note, never words in a cell
    assert "attack at chance" not in "".join(" & ".join(c) for c in rows.values())
    assert rows["ft"][columns.index("MIA")].endswith("$^{\\dagger}$")
    assert "$^{\\dagger}$" not in rows["salun"][columns.index("MIA")]
    assert tex.count("MIA attack at chance") == 1


def test_table_tex_takes_a_column_subset_in_the_given_order(report_run) -> None:
    _, cells, _ = report_run
    columns = parse_tex_columns("UA, ta,MIA,AvgGap")
    assert columns == ("UA", "TA", "MIA", "avg_gap")
    tex = table_tex_text(summarize(cells), columns)
    header = next(line for line in tex.splitlines() if line.startswith("Method &"))
    assert header == "Method & UA & TA & MIA & Avg Gap \\\\"
    assert "\\begin{tabular}{lrrrr}" in tex
    assert "Forget" not in header and "RTE" not in tex.split("\\toprule")[1]


@pytest.mark.usefixtures("no_report_plots")  # two_by_two's plots: test_report_outputs.py
def test_report_tex_columns_flag_and_its_errors(report_run, capsys) -> None:
    run_dir, _, _ = report_run
    from ftunlearn.experiments.runner import RUN_FILENAME
    from ftunlearn.experiments.store import RESULTS_FILENAME, ResultStore

    stored = run_dir.parent / "stored"
    stored.mkdir()
    with ResultStore(stored / RESULTS_FILENAME) as store:
        for cell in two_by_two():
            store.write(cell)
    (stored / RUN_FILENAME).write_text("{}")
    assert main(["report", str(stored), "--tex-columns", "UA,AvgGap"]) == 0
    assert "Method & UA & Avg Gap \\\\" in (stored / "table.tex").read_text()
    capsys.readouterr()
    assert main(["report", str(stored), "--tex-columns", "UA,Bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ftunlearn report: error: --tex-columns: "
                                               "unknown column 'Bogus'; choose from UA, RA")


ARTICLE = r"""\documentclass{article}
\usepackage{booktabs,graphicx}
\begin{document}
\input{table.tex}
\end{document}
"""


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="no TeX engine installed (apt-get install texlive-latex-recommended)")
def test_table_tex_compiles_within_the_text_width(report_run, tmp_path) -> None:
    _, cells, _ = report_run
    # the widest table: every metric the run has, so it must be shrunk to fit
    summary = summarize(cells)
    (tmp_path / "table.tex").write_text(table_tex_text(summary, summary.metric_names))
    (tmp_path / "paper.tex").write_text(ARTICLE)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "paper.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log
    assert_truetype_or_type1(tmp_path / "paper.pdf")


def assert_truetype_or_type1(pdf: Path) -> None:
    """pdflatex embeds Type 1 fonts, which publishers accept; never Type 3 bitmaps."""
    fonts = pdf_fonts(pdf)
    assert fonts and all(subtype != "/Type3" for _, subtype in fonts), fonts


def test_save_figure_leaves_matplotlibs_global_settings_alone(report_run) -> None:
    import matplotlib

    before = matplotlib.rcParams["pdf.fonttype"]
    figure = plot_figure("avg_gap", summarize(report_run[1]))
    save_figure(figure, ("pdf",))
    assert matplotlib.rcParams["pdf.fonttype"] == before


def test_save_figure_draws_each_format_once_and_keeps_the_png_of_a_laid_out_save(
        report_run) -> None:
    import io

    from ftunlearn import figure_style
    from ftunlearn.experiments.plots import PNG_DPI

    summary = summarize(report_run[1])
    plain = io.BytesIO()  # the engine left on: matplotlib lays out and draws twice
    figure_style.save(plot_figure("avg_gap_vs_rte", summary), plain, fmt="png", dpi=PNG_DPI,
                      metadata={"Software": None})
    figure = plot_figure("avg_gap_vs_rte", summary)
    draws = []
    draw = figure.draw
    figure.draw = lambda renderer: draws.append(renderer) or draw(renderer)
    files = save_figure(figure, ("png", "svg", "pdf"))
    assert len(draws) == 3 and set(files) == {"png", "svg", "pdf"}
    assert files["png"] == plain.getvalue()
