import json
import os

import keras
import pytest
from PIL import Image

from tests.examples import load_digit_study

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large

pytest.importorskip("sklearn")


@pytest.fixture
def example(monkeypatch):
    return load_digit_study("sampler_study", monkeypatch)


# The study's logic is backend-independent and its solvers are tested on
# every backend in tests/models/test_fast_sampling.py: run it once.
@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent study logic: run once, on PyTorch "
    "(the fastest here: many small sampling loops, no compile)",
)
def test_smoke_run_measures_every_solver_and_plots(example, tmp_path):
    pytest.importorskip("matplotlib")
    output = str(tmp_path / "study")
    example.main(example.parse_args(["--smoke", "--output", output]))
    with open(os.path.join(output, "results.json")) as file:
        results = json.load(file)
    (study,) = results["presets"]
    solvers = {(r["sampler"], r["spacing"]) for r in study["solvers"]}
    assert len(solvers) == 5 * 3
    heun = [r for r in study["solvers"] if r["sampler"] == "heun"]
    # A budget of 2 evaluations is one Heun step (its last is Euler).
    assert {(r["num_steps"], r["nfe"]) for r in heun} == {(1, 1)}
    assert sum(r["reference"] for r in study["solvers"]) == 1
    assert study["best"]["sampler"] in {s for s, _ in solvers}
    starts = {r["unconditional_start"] for r in study["guidance"]}
    assert starts == {"zeros", "conditional"}
    choices = {r["corrector_latents"] for r in study["corrector_latents"]}
    assert choices == {"predictor", "previous"}
    table = open(os.path.join(output, "results.md")).read()
    assert "| dpmpp_2m | logsnr |" in table and "guidance interval" in table
    with Image.open(os.path.join(output, "quality_vs_nfe.png")) as image:
        assert image.size[0] > image.size[1] > 100
    # The outputs render again from the JSON alone.
    os.remove(os.path.join(output, "results.md"))
    example.write_outputs(results, output)
    assert os.path.exists(os.path.join(output, "results.md"))


def test_first_to_match_needs_the_reference_within_the_seed_spread(example):
    def run(nfe, distance, std, sampler="ddim"):
        return {
            "nfe": nfe,
            "frechet_distance": distance,
            "frechet_distance_std": std,
            "sampler": sampler,
            "spacing": "time",
            "reference": False,
        }

    reference = run(100, 1.0, 0.05)
    rows = [run(5, 2.0, 0.1), run(10, 1.12, 0.02, "heun"), run(25, 1.0, 0.1)]
    assert example.first_to_match(rows, reference) == {
        "nfe": 25,
        "sampler": "ddim",
        "spacing": "time",
    }
    rows[1]["frechet_distance"] = 1.06
    assert example.first_to_match(rows, reference)["nfe"] == 10
