"""Copy a bench run's report artefacts into docs/ and print its main tables as Markdown.

    .venv/bin/python docs/tools/collect_results.py RUN_DIR docs/figures/results/NAME

Used to build docs/results.md from the tool's own reports; nothing here computes a number.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ARTEFACTS = ("summary.csv", "ua_vs_ta.png", "avg_gap.png", "avg_gap_vs_rte.png",
             "forget_loss_gap.png")


def main(run_dir: Path, target: Path) -> None:
    if not (run_dir / "report.md").is_file():
        raise SystemExit(f"collect_results: {run_dir}/report.md is missing; run "
                         f"`ftunlearn report {run_dir}` first")
    target.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, target / name)
    report = (run_dir / "report.md").read_text().splitlines()
    start = report.index("## Results")
    # the tables (results, paired comparison, other metrics), not the definitions that follow
    end = next(i for i, line in enumerate(report)
               if i > start and line.startswith(("## Definitions", "## Plots")))
    print("\n".join(line.replace("## ", "#### ", 1) if line.startswith("## ") else line
                    for line in report[start:end]).strip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a bench run's --out folder")
    parser.add_argument("target", type=Path, help="where its figures go, under docs/figures")
    arguments = parser.parse_args()
    main(arguments.run_dir, arguments.target)
