"""The command line: exit codes, messages without tracebacks, config precedence, a real run."""

import json

import pytest

from ftunlearn.cli import build_parser, main
from ftunlearn.cli_options import bench_configs
from ftunlearn.data import load_dataset, make_split


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "fashion-mnist", "cnn", "resnet18", "dr-ft", "rbm", "quick"):
        assert name in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--out", "{tmp}/r", "--methods", "nope"], "unknown method 'nope'"),
        (["bench", "--out", "{tmp}/r", "--dataset", "imagenet"], "unknown dataset"),
        (["bench", "--out", "{tmp}/r", "--hp", "ft.alpha"], "METHOD.KEY=VALUE"),
        (["bench", "--out", "{tmp}/r", "--recipe", "lr=-1"], "lr must be > 0"),
        (["bench", "--out", "{tmp}/r", "--config", "{tmp}/missing.toml"], "does not exist"),
        (["report", "{tmp}/nothing"], "ftunlearn bench"),
        (["bench", "--out", "{tmp}/r", "--audit", "1"], "--audit: must be >= 4"),
        (["bench", "--out", "{tmp}/r", "--audit", "0"], "--audit: must be >= 4"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_preset_then_config_then_flags(tmp_path):
    config_file = tmp_path / "run.toml"
    config_file.write_text(
        'model = "mlp:hidden=8"\nseeds = "0,4"\nmethods = ["ft", "dr-ft"]\n'
        '[recipe]\nepochs = 3\n[hyperparameters.dr-ft]\nalpha = 0.25\n'
    )
    args = build_parser().parse_args([
        "bench", "--preset", "quick", "--config", str(config_file), "--out", str(tmp_path / "o"),
        "--seeds", "2", "--hp", "dr-ft.epochs=1", "--recipe", "lr=0.2",
    ])
    [(out, config)] = bench_configs(args)
    assert out == tmp_path / "o"
    assert config.dataset == "digits"  # from the preset
    assert config.model == "mlp:hidden=8"  # the file beats the preset
    assert config.seeds == (0, 1)  # the flag beats the file
    assert config.methods == ("ft", "dr-ft")
    assert (config.recipe.epochs, config.recipe.lr, config.recipe.batch_size) == (3, 0.2, 64)
    assert config.hyperparameters["dr-ft"] == {"alpha": 0.25, "epochs": "1"}


def test_paper_preset_has_a_run_per_forget_spec(tmp_path):
    args = build_parser().parse_args(["bench", "--preset", "paper", "--out", str(tmp_path)])
    runs = bench_configs(args)
    assert [(out.name, c.forget) for out, c in runs] == [
        ("random-10", "random:0.1"), ("class-3", "class:3")]
    assert all(c.dataset == "fashion-mnist" and c.model.startswith("cnn") for _, c in runs)


@pytest.mark.slow
def test_bench_then_report_end_to_end(tmp_path, capsys, tiny_bench_argv):
    out = tmp_path / "run"
    argv = tiny_bench_argv("--metrics", "all")
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "cells: 3 run, 0 already done, 0 failed" in printed.out
    # the main table ends the run; without bars, one log line per finished cell
    assert "Avg Gap" in printed.out and "│ ft " in printed.out
    assert "cell 3/3: ft seed 0 ok" in printed.err
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("method,n_seeds,UA_mean,UA_std")
    assert [line.split(",")[0] for line in summary[1:]] == ["golden", "original", "ft"]
    assert json.loads((out / "run.json").read_text())["config"]["methods"] == ["ft"]
    assert main([*argv, "--no-report"]) == 0  # the report is rewritten by `report` next
    assert "cells: 0 run, 3 already done" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_text().count("data:image/png;base64") >= 3


@pytest.mark.usefixtures("no_report_plots")
def test_the_report_shows_the_split_sizes_the_bench_recorded_without_loading_the_data(
        tmp_path, tiny_bench_argv, monkeypatch):
    import ftunlearn.data

    out = tmp_path / "run"
    assert main(tiny_bench_argv()) == 0
    record = json.loads((out / "run.json").read_text())
    [seed] = record["config"]["seeds"]
    data = load_dataset("digits")
    split = make_split(data, record["config"]["forget"], seed=seed)
    assert record["split_sizes"] == {str(seed): {"forget": split.n_forget,
                                                 "retain": split.n_retain, "test": data.n_test}}
    line = f"({split.n_forget} forget, {split.n_retain} retain, {data.n_test} test on seed {seed})"
    loads = []
    real_load = ftunlearn.data.load_dataset
    monkeypatch.setattr(ftunlearn.data, "load_dataset",
                        lambda *args: loads.append(args) or real_load(*args))
    assert main(["report", str(out)]) == 0
    assert line in (out / "report.md").read_text() and loads == []
    # a run.json without them (an earlier ftunlearn's, or damaged): computed from the data
    record["split_sizes"] = {str(seed): {"forget": "many"}}
    (out / "run.json").write_text(json.dumps(record))
    assert main(["report", str(out)]) == 0
    assert line in (out / "report.md").read_text() and len(loads) == 1


@pytest.mark.usefixtures("no_report_plots")
def test_evaluation_sample_flags_reach_the_run_and_its_report(tmp_path, capsys,
                                                              tiny_bench_argv):
    out = tmp_path / "run"
    argv = tiny_bench_argv("--eval-retain-samples", "300", "--attack-samples", "all")
    assert main(argv) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert (config["eval_retain_samples"], config["attack_samples"]) == (300, "all")
    report = (out / "report.md").read_text()
    assert "RA and the MIA members on at most 300 retain samples" in report
    assert "each MIA attack fitted on every member and non-member" in report
    # another retain sample is another evaluation: no stored cell is reused
    capsys.readouterr()
    assert main([*argv[:-3], "1000", "--attack-samples", "all"]) == 0
    assert "cells: 3 run, 0 already done" in capsys.readouterr().out
