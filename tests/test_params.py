"""The one parameter system: validation and text reading from type hints."""

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

import pytest
import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import BenchConfig, config_from_mapping
from ftunlearn.methods import available_methods, make_config, method_class, unlearn
from ftunlearn.params import Count, Params, Positive, Range
from ftunlearn.training import Recipe


@dataclass(frozen=True)
class Inner(Params):
    owner: ClassVar[str] = "inner"

    steps: Count = 2


@dataclass(frozen=True)
class Sample(Params):
    owner: ClassVar[str] = "sample"

    count: Count = 3
    rate: Positive = 0.5
    share: Annotated[float, Range(gt=0, le=1)] = 0.2
    limit: Annotated[float, Range(ge=0, finite=False)] = 1.0
    clip: Positive | None = None
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    names: tuple[str, ...] = ("x",)
    seeds: tuple[int, ...] = (0,)
    inner: Inner = field(default_factory=Inner)

    def check(self) -> None:
        if self.kind == "b" and self.flag:
            self.fail("kind 'b' cannot be flagged")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": True}, "count must be >= 1 (a whole number), got True"),
        ({"count": 2.5}, "count must be >= 1 (a whole number), got 2.5"),
        ({"count": 3.0}, "count must be >= 1 (a whole number), got 3.0"),
        ({"count": "3.0"}, "count must be >= 1 (a whole number), got '3.0'"),
        ({"count": "2.5"}, "got '2.5'"),
        ({"count": 0}, "count must be >= 1"),
        ({"rate": True}, "rate must be > 0 (a finite number), got True"),
        ({"rate": float("inf")}, "rate must be > 0"),
        ({"rate": "inf"}, "got 'inf'"),
        ({"rate": "nan"}, "got 'nan'"),
        ({"rate": "fast"}, "got 'fast'"),
        ({"share": 1.5}, r"share must be in (0, 1] (a finite number)"),
        ({"limit": float("nan")}, "limit must be >= 0 (a number)"),
        ({"clip": -1}, "clip must be > 0 (a finite number) or none"),
        ({"kind": "c"}, "kind must be one of 'a', 'b', got 'c'"),
        ({"kind": " A"}, "kind must be one of 'a', 'b'"),
        ({"flag": "no"}, "flag must be true or false, got 'no'"),
        ({"flag": "1"}, "flag must be true or false"),
        ({"flag": 1}, "flag must be true or false"),
        ({"seeds": "0,x"}, "seeds must be a comma-separated list of a whole number"),
        ({"names": 3}, "names must be a comma-separated list of text"),
        ({"inner": {"steps": "1.5"}}, "sample, inner: steps must be >= 1"),
        ({"inner": 3}, "inner must be a table of inner keys"),
        ({"kind": "b", "flag": True}, "sample: kind 'b' cannot be flagged"),
        ({"speed": 1, "colour": 2}, "sample: unknown key(s) colour, speed; known: count, rate"),
    ],
)
def test_bad_values_are_one_clean_error_naming_owner_and_field(values, message):
    with pytest.raises(UnlearnError) as caught:
        Sample.from_values(values)
    assert message in str(caught.value)
    assert str(caught.value).startswith("sample")


def test_text_and_typed_values_are_read_by_the_hints():
    read = Sample.from_values({
        "count": "4", "rate": "1e-3", "share": 1, "limit": "inf", "clip": "none", "kind": "b",
        "flag": "false", "names": "p, q,", "seeds": [3, 5], "inner": {"steps": "7"},
    })
    assert read == Sample(count=4, rate=1e-3, share=1.0, limit=float("inf"), clip=None,
                          kind="b", flag=False, names=("p", "q"), seeds=(3, 5), inner=Inner(7))
    assert type(read.share) is float and type(read.count) is int
    assert Sample.from_values({"clip": "NULL", "flag": "TRUE"}).flag is True
    assert Sample().replace(count="9").count == 9
    with pytest.raises(UnlearnError, match="count must be"):
        Sample().replace(count=9.0)


def test_direct_construction_validates_the_same_way():
    with pytest.raises(UnlearnError, match=r"^sample: rate must be > 0"):
        Sample(rate=True)  # type: ignore[arg-type]
    assert Sample(rate=2).rate == 2.0


def test_to_dict_is_plain_and_round_trips():
    sample = Sample(names=("a", "b"), inner=Inner(5))
    plain = sample.to_dict()
    assert plain["names"] == ["a", "b"] and plain["inner"] == {"steps": 5}
    assert Sample.from_values(plain) == sample


@pytest.mark.parametrize("name", available_methods())
def test_every_method_default_config_round_trips_through_text_and_values(name):
    default = method_class(name).Config()
    assert make_config(name, default.to_dict()) == default
    as_text = {k: "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
               for k, v in default.to_dict().items()}
    assert make_config(name, as_text) == default


def test_recipe_and_bench_config_round_trip_and_nest():
    recipe = Recipe.from_values({"epochs": "3", "grad_clip": "2", "schedule": "step"})
    assert recipe == Recipe(epochs=3, grad_clip=2.0, schedule="step")
    assert Recipe.from_values(recipe.to_dict()) == recipe
    config = config_from_mapping({"seeds": "2", "methods": "ft,dr-ft", "recipe": {"epochs": "4"},
                                  "hyperparameters": {"ft": {"lr": "0.1"}}})
    assert (config.seeds, config.methods, config.recipe.epochs) == ((0, 1), ("ft", "dr-ft"), 4)
    assert config_from_mapping(config.to_dict()) == config
    assert config_from_mapping({"seeds": "0,5,9"}).seeds == (0, 5, 9)
    with pytest.raises(UnlearnError, match=r"bench config, recipe: epochs must be >= 1 .*'3.0'"):
        config_from_mapping({"recipe": {"epochs": "3.0"}})
    with pytest.raises(UnlearnError, match="bench config: mia_extras must be true or false"):
        config_from_mapping({"mia_extras": "no"})
    with pytest.raises(UnlearnError, match="unknown config key"):
        config_from_mapping({"colour": "red"})
    assert BenchConfig().to_dict()["methods"] == list(BenchConfig().methods)


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"epochs": 2.5}, "method 'ft': epochs must be >= 1 (a whole number), got 2.5"),
        ({"epochs": "3.0"}, "method 'ft': epochs must be >= 1"),
        ({"lr": True}, "method 'ft': lr must be > 0 (a finite number), got True"),
        ({"lr": float("inf")}, "method 'ft': lr must be > 0"),
    ],
)
def test_unlearn_refuses_bad_hyperparameters_before_any_work(hyperparameters, message):
    class Exploding(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("the model ran before the hyperparameters were checked")

    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    with pytest.raises(UnlearnError) as caught:
        unlearn(Exploding(), (x[:6], y[:6]), (x[6:], y[6:]), "ft", **hyperparameters)
    assert message in str(caught.value)


def test_cli_recipe_text_is_refused_before_training(tmp_path, capsys):
    from ftunlearn.cli import main

    for item, message in (("epochs=3.0", "recipe: epochs must be >= 1"),
                          ("lr=inf", "recipe: lr must be > 0"),
                          ("speed=2", "unknown recipe field(s) speed")):
        assert main(["bench", "--out", str(tmp_path / "r"), "--recipe", item]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ftunlearn bench: error:") and message in err, err
        assert "Traceback" not in err and err.count("\n") == 1
        assert not (tmp_path / "r" / "results.sqlite").exists()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('mia_extras = "no"\n', "bench config: mia_extras must be true or false, got 'no'"),
        ('methods = ["ft"]\n[hyperparameters.ft]\nlr = true\n', "method 'ft': lr must be > 0"),
        ('[recipe]\nepochs = 2.5\n', "bench config, recipe: epochs must be >= 1"),
        ('seeds = true\n', "bench config: seeds must be a comma-separated list"),
    ],
)
def test_toml_values_of_the_wrong_type_are_refused(tmp_path, capsys, toml, message):
    from ftunlearn.cli import main

    config = tmp_path / "run.toml"
    config.write_text(toml)
    assert main(["bench", "--out", str(tmp_path / "r"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ftunlearn bench: error:") and message in err, err
