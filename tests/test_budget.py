"""benchmarks/budget.py: a build replayed at other budgets from its runs' histories."""

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("budget", ROOT / "benchmarks/budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)


def record(epoch, val_accuracy, loss=1.0):
    return {"epoch": epoch, "loss": loss, "val_loss": loss, "val_accuracy": val_accuracy,
            "test_accuracy": val_accuracy, "seconds": 2.0, "wall": 2.5}


def test_the_replay_stops_where_the_trainer_would():
    history = [record(e, a) for e, a in enumerate([0.1, 0.5, 0.6, 0.6, 0.6, 0.6], 1)]
    policy = {"patience": 2, "min_delta": 0.01, "min_epochs": 1}
    # Epoch 5: the best of its last 2 epochs (0.6) is no gain on the 3 before.
    prefix, early = budget.replay(history, {"epochs": 6, "early_stopping": policy}, "run")
    assert (len(prefix), early) == (5, True)
    # min_epochs holds it back; its epochs end it first.
    assert budget.replay(history, {"epochs": 6, "early_stopping": {**policy, "min_epochs": 6}},
                         "run")[0] == history
    prefix, early = budget.replay(history, {"epochs": 3, "early_stopping": policy}, "run")
    assert (len(prefix), early) == (3, False)
    # A diverged epoch ends the run there.
    diverged = history[:1] + [record(2, 0.1, loss=float("nan"))] + history[2:]
    prefix, early = budget.replay(diverged, {"epochs": 6, "early_stopping": None}, "run")
    assert (len(prefix), early) == (2, False)
    # A budget that trains past the record is refused.
    with pytest.raises(budget.BudgetError, match="run: this budget trains past the 6 epochs"):
        budget.replay(history, {"epochs": 8, "early_stopping": None}, "run")


def test_a_jobs_seconds_are_its_runs_in_turn_or_its_longest_vmapped_one():
    assert budget.group_seconds([("sequential", 10.0), ("sequential", 12.0)]) == 22.0
    assert budget.group_seconds([("vmap", 10.0), ("vmap", 12.0), ("vmap", 7.0)]) == 12.0


def test_a_build_replays_to_itself_and_a_cut_keeps_its_first_epochs(tiny_article, tmp_path):
    build = tiny_article / "results/quick"
    same = tmp_path / "same"
    assert budget.main([str(build), str(same)]) == 0
    for table in (build / "tables").glob("*_runs.csv"):
        a, b = pd.read_csv(table), pd.read_csv(same / "tables" / table.name)
        columns = ["experiment", "variant", "seed", "test_accuracy", "test_correct", "status",
                   "epochs_run", "stopped_early", "wall_seconds"]
        pd.testing.assert_frame_equal(a[columns], b[columns])
    # (The tiny article judges no claim; the real build's 15 replay to
    # themselves too: see benchmarks/README.md.)
    assert pd.read_csv(same / "claims.csv")["verdict"].tolist() == \
        pd.read_csv(build / "claims.csv")["verdict"].tolist()

    cut = tmp_path / "cut"
    assert budget.main([str(build), str(cut), "--set", "depth:epochs=1"]) == 0
    depth = pd.read_csv(cut / "tables/depth_runs.csv").set_index("variant")
    for _, before in pd.read_csv(build / "tables/depth_runs.csv").iterrows():
        first = json.loads((tiny_article / before["run"] / "metrics.json").read_text())["history"][0]
        after = depth.loc[before["variant"]]
        assert before["epochs_run"] == 2
        assert (after["epochs_run"], after["test_accuracy"], after["test_correct"]) == \
               (1, first["test_accuracy"], first["test_correct"])
        assert after["train_seconds"] == pytest.approx(first["seconds"])
        assert json.loads((Path(after["run"]) / "config.json").read_text())["epochs"] == 1
    kept = ["variant", "test_accuracy", "epochs_run"]
    pd.testing.assert_frame_equal(pd.read_csv(build / "tables/width_runs.csv")[kept],
                                  pd.read_csv(cut / "tables/width_runs.csv")[kept])


def test_what_cannot_be_replayed_is_refused_with_the_reason(tiny_article, tmp_path, capsys):
    build = tiny_article / "results/quick"

    def refused(*sets, out="out"):
        assert budget.main([str(build), str(tmp_path / out), *[a for s in sets for a in ("--set", s)]]) == 2
        assert out == "kept" or not (tmp_path / out).exists()
        return capsys.readouterr().err

    assert "depth/lkrelu seed 100: this budget trains past the 2 epochs the build recorded" in \
        refused("depth/lkrelu:epochs=5")
    assert "allcnn/lkrelu_step01 seed 100: its learning-rate steps scale with its epochs" in \
        refused("allcnn/lkrelu_step01:epochs=1")
    assert "--set nothing/*: no run of" in refused("nothing:epochs=1")
    assert "'lr' cannot be replayed; one of epochs, early_stopping" in refused("depth:lr=0.1")
    (tmp_path / "kept").mkdir()
    assert "exists: give a new directory (nothing is overwritten)" in refused(out="kept")
    # A run whose record disagrees with the stop rule (here, marked stopped
    # early after its full epochs) is named: the replay would not be the trainer.
    copy = tmp_path / "copy"
    shutil.copytree(build, copy)
    metrics = next((copy / "runs/width").glob("w50_relu*/100/metrics.json"))
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "stopped_early": True}))
    assert budget.main([str(copy), str(tmp_path / "tampered")]) == 2
    assert "width/w50_relu seed 100: its own budget replays to 2 epochs (stopped early: False), " \
           "where it trained 2 (True)" in capsys.readouterr().err
