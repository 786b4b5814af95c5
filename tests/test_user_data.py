"""The user's own data and models: Datasets, DataLoaders, dict batches, `.logits` outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ftunlearn import UnlearnError, available_methods
from ftunlearn.methods.base import method_class, unlearn
from ftunlearn.training import Recipe

CLASSES = 3
RECIPE = Recipe(epochs=1, batch_size=16, lr=0.05)
FAST = {"ft": {"epochs": 1}, "dr-ft": {"epochs": 1}, "rbm": {"epochs": 1, "saliency_samples": 8},
        "salun": {"epochs": 1}, "iu": {"samples": 8}, "rl": {"epochs": 1},
        "l1-sparse": {"epochs": 1}, "neggrad+": {"epochs": 1}, "scrub": {"epochs": 1, "msteps": 1},
        "ga": {"epochs": 1}, "ssd": {"alpha": 1.0}}
"""One epoch each; ssd selects nothing at its default α once D_f is a fifth of D."""


class Images(Dataset):
    """Tiny 1x4x4 images whose class is the brightest row block; optional random flips."""

    def __init__(self, n: int, seed: int, flip: bool = False) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, CLASSES, (n,), generator=generator)
        self.x = torch.rand(n, 1, 4, 4, generator=generator)
        self.x[torch.arange(n), 0, self.y] += 2.0
        self.flip = flip

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.x[index]
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)  # a horizontal flip keeps the row, hence the class
        return x, int(self.y[index])


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, CLASSES))


def changed(before: nn.Module, after: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before.state_dict().values(),
                                                     after.state_dict().values(), strict=True))


BUILT_IN = [m for m in available_methods()
            if method_class(m).__module__.startswith("ftunlearn.methods")]
"""The shipped methods (other test modules register throwaway ones of their own)."""


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_method_runs_on_dataloaders_with_random_flips(method: str) -> None:
    model = small_model()
    retain = DataLoader(Images(96, seed=1, flip=True), batch_size=16, shuffle=True,
                        num_workers=0)
    forget = DataLoader(Images(24, seed=2, flip=True), batch_size=8, num_workers=0)
    result = unlearn(model, retain, forget, method, seed=0, device="cpu", recipe=RECIPE,
                     **FAST.get(method, {}))
    assert isinstance(result.model, nn.Sequential)
    assert changed(model, result.model)
    again = unlearn(model, retain, forget, method, seed=0, device="cpu", recipe=RECIPE,
                    **FAST.get(method, {}))
    # the flips draw from the global RNG, which the fit loop seeds: same seed, same weights
    assert not changed(result.model, again.model)


def test_a_subset_a_list_of_pairs_and_dict_batches_are_accepted() -> None:
    data = Images(120, seed=3)
    retain, forget = Subset(data, range(96)), [data[i] for i in range(96, 120)]
    from_sets = unlearn(small_model(), retain, forget, "ft", device="cpu", epochs=1)
    tensors = (data.x[:96], data.y[:96]), (data.x[96:], data.y[96:])
    from_tensors = unlearn(small_model(), *tensors, "ft", device="cpu", epochs=1)
    assert changed(small_model(), from_sets.model)
    assert from_sets.model(data.x[:4]).shape == from_tensors.model(data.x[:4]).shape

    def as_dicts(items: list) -> dict:
        return {"input": torch.stack([x for x, _ in items]),
                "label": torch.tensor([y for _, y in items])}

    loader = DataLoader(retain, batch_size=32, collate_fn=as_dicts)
    assert changed(small_model(), unlearn(small_model(), loader, forget, "ft", device="cpu",
                                          epochs=1).model)
    odd = DataLoader(retain, batch_size=32, collate_fn=lambda items: {"img": items})
    with pytest.raises(UnlearnError, match="batch="):
        unlearn(small_model(), odd, forget, "ft", device="cpu", epochs=1)
    hooked = unlearn(small_model(), odd, forget, "ft", device="cpu", epochs=1,
                     batch=lambda b: as_dicts(b["img"]).values())
    assert changed(small_model(), hooked.model)


def test_streamed_labels_beyond_the_output_width_are_refused() -> None:
    data = Images(40, seed=4)
    data.y[3] = CLASSES + 2
    with pytest.raises(UnlearnError, match="label 5 is not a class index"):
        unlearn(small_model(), data, Images(8, seed=5), "ft", device="cpu", epochs=1)


@dataclass
class Output:
    logits: torch.Tensor


class LogitsNet(nn.Module):
    """A model answering with an object holding ``.logits``, as Hugging Face models do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = small_model()

    def forward(self, x: torch.Tensor) -> Output:
        return Output(self.net(x))


def test_a_model_returning_logits_objects_or_tuples_works_through_the_output_hook() -> None:
    data = Images(120, seed=6)
    retain, forget = (data.x[:96], data.y[:96]), (data.x[96:], data.y[96:])
    model = LogitsNet()
    result = unlearn(model, retain, forget, "ft", device="cpu", epochs=1)
    assert isinstance(result.model, LogitsNet)
    assert changed(model.net, result.model.net)
    tupled = nn.Sequential(small_model(), _Pair())
    with pytest.raises(UnlearnError, match="output="):
        unlearn(tupled, retain, forget, "ft", device="cpu", epochs=1)
    fixed = unlearn(tupled, retain, forget, "ft", device="cpu", epochs=1,
                    output=lambda out: out[0])
    assert isinstance(fixed.model, nn.Sequential)
    streamed = unlearn(model, Subset(data, range(96)), forget, "ssd", device="cpu")
    assert isinstance(streamed.model, LogitsNet)


class _Pair(nn.Module):
    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return logits, logits.softmax(1)


def test_float64_inputs_meet_a_float32_model() -> None:
    data = Images(60, seed=7)
    result = unlearn(small_model(), (data.x[:48].double(), data.y[:48]),
                     (data.x[48:].double(), data.y[48:]), "ft", device="cpu", epochs=1)
    assert result.model[1].weight.dtype == torch.float32


def test_retrain_without_a_recipe_asks_for_one() -> None:
    data = Images(60, seed=8)
    with pytest.raises(UnlearnError, match="needs the original's training recipe"):
        unlearn(small_model(), (data.x[:48], data.y[:48]), (data.x[48:], data.y[48:]), "retrain")


MEMORY_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lazy_memory.py"


@pytest.mark.slow
def test_a_lazy_dataset_is_streamed_without_being_held_in_memory() -> None:
    # 12 000 samples of 3x32x32 float32 are 147 MB; make test keeps it small, the benchmark
    # runs the 200 000-sample case with the same script
    done = subprocess.run(
        [sys.executable, str(MEMORY_SCRIPT), "--samples", "12000", "--methods",
         "ft,dr-ft,rbm,salun,iu,ssd"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["methods"]) == {"ft", "dr-ft", "rbm", "salun", "iu", "ssd"}
    # a materialised set alone would add 147 MB; streamed, the methods add about 60 MB, the
    # same at 5000 samples as at 20 000 (their models, optimisers and batches)
    assert report["peak_rss_mib"] < report["baseline_rss_mib"] + 100


def test_evaluate_sets_gives_the_protocol_metrics_from_loaders_and_tensors() -> None:
    from ftunlearn import evaluate_sets

    data, test = Images(120, seed=9), Images(60, seed=10)
    model = small_model()
    tensors = {"retain": (data.x[:96], data.y[:96]), "forget": (data.x[96:], data.y[96:]),
               "test": (test.x, test.y)}
    loaders = {"retain": DataLoader(Subset(data, range(96)), batch_size=10),
               "forget": [data[i] for i in range(96, 120)], "test": DataLoader(test, batch_size=7)}
    from_tensors = evaluate_sets(model, **tensors, device="cpu")
    from_loaders = evaluate_sets(model, **loaders, device="cpu")
    assert from_tensors.keys() == from_loaders.keys() >= {"UA", "RA", "TA", "MIA", "forget_CE"}
    for key, value in from_tensors.items():
        assert from_loaders[key] == pytest.approx(value, abs=1e-5), key
    predictions = model(data.x[:96]).argmax(1)
    assert from_tensors["RA"] == pytest.approx(100.0 * float((predictions == data.y[:96]).float()
                                                               .mean()))
    against_itself = evaluate_sets(model, **loaders, golden=model, device="cpu")
    assert against_itself["JS_forget"] == pytest.approx(0.0, abs=1e-6)
    assert against_itself["avg_gap"] == pytest.approx(0.0, abs=1e-9)


def test_a_dataset_factory_by_import_path_is_read_into_a_dataset(tmp_path, monkeypatch) -> None:
    (tmp_path / "mydata.py").write_text(
        "import torch\n"
        "from torch.utils.data import TensorDataset\n"
        "def load(data_dir):\n"
        "    x = torch.arange(40.0).reshape(20, 2)\n"
        "    return TensorDataset(x, torch.arange(20) % 3), (x[:6].numpy(), [0, 1, 2] * 2), 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from ftunlearn.data import load_dataset

    data = load_dataset("mydata:load")
    assert (data.n_train, data.n_test, data.num_classes, data.input_shape) == (20, 6, 4, (2,))
    assert torch.equal(data.x_train[3], torch.tensor([6.0, 7.0]))
    assert data.y_test.tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(UnlearnError, match="has no callable 'absent'"):
        load_dataset("mydata:absent")


def test_evaluate_sets_subsamples_the_retain_set_as_evaluate_does() -> None:
    from ftunlearn import evaluate_sets
    from ftunlearn.data.splits import stratified_subsample

    data, test = Images(120, seed=9), Images(60, seed=10)
    model = small_model()
    sets = {"retain": (data.x[:96], data.y[:96]), "forget": (data.x[96:], data.y[96:]),
            "test": (test.x, test.y)}
    loaders = {**sets, "retain": DataLoader(Subset(data, range(96)), batch_size=10)}
    rows = torch.from_numpy(stratified_subsample(data.y[:96].numpy(), 40, 5))
    expected = 100.0 * float((model(data.x[:96][rows]).argmax(1) == data.y[:96][rows])
                             .float().mean())
    for given in (sets, loaders):  # tensors run only the chosen rows; a loader is read whole
        metrics = evaluate_sets(model, **given, seed=5, retain_samples=40, device="cpu")
        assert metrics["RA"] == pytest.approx(expected)
