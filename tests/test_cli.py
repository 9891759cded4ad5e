"""The `lit-evoae` command end to end on a tiny config, and its handling of bad input."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from lit_evoae import keys
from lit_evoae.cli import build_cli, main

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "seed_everything": 0,
    "trainer": {
        "max_epochs": 4,
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
    },
    "model": {
        "class_path": "lit_evoae.systems.CanonicalAutoencoder",
        "init_args": {"hidden_sizes": [8], "latent_dim": 3, "lr": 0.05},
    },
    "data": {
        "class_path": "lit_evoae.data.BinaryClusteringDataModule",
        "init_args": {
            "num_clusters": 3,
            "dim": 20,
            "examples_per_cluster": 20,
            "batch_size": 5,
            "data_dir": "data",
        },
    },
}


COEVOLUTION = {
    **TINY,
    "model": {
        "class_path": "lit_evoae.systems.CoevolutionaryAutoencoder",
        "init_args": {
            "hidden_sizes": [8],
            "latent_dim": 3,
            "lr": 0.01,
            "topology": {
                "class_path": "lit_evoae.population.topology.Ring",
                "init_args": {"size": 4, "radius": 1},
            },
        },
    },
}


@pytest.fixture
def tiny_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])  # pytest's own arguments are not ours
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def read_metrics(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.integration
def test_fit_then_test_from_the_checkpoint(tiny_config, tmp_path):
    build_cli(["fit", "--config", str(tiny_config)])
    run = tmp_path / "lightning_logs" / "version_0"
    rows = read_metrics(run / keys.METRICS_CSV)
    assert {keys.TRAIN_LOSS, keys.VAL_L1, keys.MODEL_PARAMS, keys.MODEL_SPARSITY} <= set(rows[0])
    assert len([row for row in rows if row[keys.VAL_L1]]) == 4
    assert (run / "config.yaml").exists()
    checkpoints = {path.name for path in (run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints
    assert any(name.startswith("epoch=") and "val_l1=" in name for name in checkpoints)

    trained = build_cli(
        [
            "test",
            "--config",
            str(tiny_config),
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
        ]
    )
    untrained = build_cli(["test", "--config", str(tiny_config)])  # same seed: the initial net
    trained_l1 = trained.trainer.callback_metrics[keys.TEST_L1].item()
    untrained_l1 = untrained.trainer.callback_metrics[keys.TEST_L1].item()
    assert trained_l1 < untrained_l1 - 0.02
    assert read_metrics(tmp_path / "lightning_logs" / "version_1" / keys.METRICS_CSV)[0][
        keys.TEST_L1
    ]


@pytest.mark.integration
def test_fit_and_test_are_quiet_and_close_with_one_summary_line(
    tiny_config, tmp_path, capsys, recwarn, lightning_messages
):
    config = yaml.safe_load(tiny_config.read_text())
    del config["trainer"]["enable_progress_bar"]  # the default: a progress display
    tiny_config.write_text(yaml.safe_dump(config))
    build_cli(["fit", "--config", str(tiny_config)])
    printed = capsys.readouterr().out
    # stdout is not a terminal here: progress comes as lines, not as a redrawn bar
    assert "\r" not in printed
    assert "generation 4/4 · val/l1 0." in printed
    closing = printed.strip().splitlines()[-1]
    assert closing.startswith("lit-evoae: fit done in ")
    assert "run folder lightning_logs/version_0" in closing.replace("./", "")
    assert "· best val/l1 0." in closing and "· test/l1 0." in closing
    assert "· final/train_l1_mean 0." in closing
    checkpoint = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    build_cli(["test", "--config", str(tiny_config), "--ckpt_path", str(checkpoint)])
    closing = capsys.readouterr().out.strip().splitlines()[-1]
    assert closing.startswith("lit-evoae: test done in ") and "· test/l1 0." in closing
    assert not any("dirpath has changed" in str(warning.message) for warning in recwarn)
    assert any("GPU available" in message for message in lightning_messages)  # it listens
    assert not any("💡 Tip" in message for message in lightning_messages)


@pytest.mark.integration
def test_default_root_dir_holds_every_output_of_the_run(tiny_config, tmp_path):
    build_cli(
        [
            "fit",
            "--config",
            str(tiny_config),
            "--trainer.default_root_dir",
            "D",
            "--trainer.logger",
            "CSVLogger",
            "--trainer.logger.save_dir",
            ".",
        ]
    )
    run = tmp_path / "D" / "lightning_logs" / "version_0"
    for name in (keys.METRICS_CSV, "config.yaml", keys.BEST_AUTOENCODER, "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    assert not (tmp_path / "lightning_logs").exists()
    assert not (tmp_path / "config.yaml").exists()


@pytest.mark.integration
def test_a_relative_logger_folder_other_than_dot_stays_relative_to_the_working_folder(
    tiny_config, tmp_path
):
    # what the study runner passes with a relative --out: both paths name the same folder
    build_cli(
        [
            "fit",
            "--config",
            str(tiny_config),
            "--trainer.default_root_dir",
            "runs/x",
            "--trainer.logger",
            "CSVLogger",
            "--trainer.logger.save_dir",
            "runs/x",
        ]
    )
    assert (tmp_path / "runs" / "x" / "lightning_logs" / "version_0" / keys.METRICS_CSV).is_file()
    assert not (tmp_path / "runs" / "x" / "runs").exists()


@pytest.mark.integration
def test_wandb_runs_keep_their_files_in_folders_of_their_own(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb = [
        "--config",
        str(ROOT / "configs" / "logging" / "wandb.yaml"),
        "--trainer.max_epochs",
        "1",
        "--trainer.default_root_dir",
        "out",
    ]
    for _ in range(2):
        build_cli(["fit", "--config", str(tiny_config), *wandb])
        import wandb as wandb_module

        wandb_module.finish()  # each CLI run is a process of its own; here, end the run
    wandb_module.teardown()  # and stop wandb's service, which later subprocesses would join
    runs = sorted(path for path in (tmp_path / "out" / "lit_evoae").iterdir())
    assert len(runs) == 2  # one folder per run id: the second run overwrote nothing
    for run in runs:
        assert {"config.yaml", keys.BEST_AUTOENCODER, "checkpoints"} <= {
            path.name for path in run.iterdir()
        }
    assert not {"config.yaml", keys.BEST_AUTOENCODER} & {p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / "out" / "config.yaml").exists()


@pytest.mark.integration
def test_coevolution_fit_tests_and_saves_the_best_individual(tmp_path, monkeypatch):
    import torch

    from lit_evoae.nets import load_autoencoder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    config = tmp_path / "coevolution.yaml"
    config.write_text(yaml.safe_dump(COEVOLUTION))
    fitted = build_cli(["fit", "--config", str(config)])
    run = tmp_path / "lightning_logs" / "version_0"
    rows = read_metrics(run / keys.METRICS_CSV)
    assert {
        keys.GEN_BEST_LOSS,
        keys.GEN_MEDIAN_LOSS,
        keys.GEN_WORST_LOSS,
        "lr/cell_03",
        keys.VAL_L1,
        keys.MODEL_SPARSITY,
    } <= set(rows[0])
    after_fit = [float(row[keys.TEST_L1]) for row in rows if row[keys.TEST_L1]]
    assert len(after_fit) == 1  # fit ended by testing the best checkpoint

    best = load_autoencoder(run / keys.BEST_AUTOENCODER)
    test_inputs = torch.cat([batch[0] for batch in fitted.datamodule.test_dataloader()])
    with torch.no_grad():
        expected = (best(test_inputs) - test_inputs).abs().mean().item()
    assert after_fit[0] == pytest.approx(expected, rel=1e-5)

    (best_checkpoint,) = (run / "checkpoints").glob("epoch=*.ckpt")
    tested = build_cli(["test", "--config", str(config), "--ckpt_path", str(best_checkpoint)])
    assert tested.trainer.callback_metrics[keys.TEST_L1].item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.integration
def test_rerun_in_the_same_folder_does_not_fail_on_the_saved_config(tiny_config, tmp_path):
    args = [
        "fit",
        "--config",
        str(tiny_config),
        "--trainer.max_epochs",
        "1",
        "--trainer.logger.init_args.version",
        "fixed",
    ]
    build_cli(args)
    build_cli(args)  # a requeued job writes into the same folder
    assert (tmp_path / "lightning_logs" / "fixed" / "config.yaml").exists()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (["--data.init_args.num_clusters", "-1"], "num_clusters"),
        (["--data.init_args.dim", "0"], "dim"),
        (["--data.init_args.flip_probability", "1.5"], "flip_probability"),
        (["--data.init_args.flip_probability", "-0.1"], "flip_probability"),
        (["--data.init_args.batch_size", "0"], "batch_size"),
        (["--model.init_args.hidden_sizes", "[8, -2]"], "hidden_sizes"),
        (["--model.init_args.lr", "-1"], "lr"),
        (["--model", "lit_evoae.systems.NoSuchSystem"], "NoSuchSystem"),
        (["--data", "lit_evoae.data.NoSuchData"], "NoSuchData"),
        (
            [
                "--model.init_args.denoising",
                "GaussianNoise",
                "--model.init_args.denoising.std",
                "-0.4",
            ],
            "std",
        ),
        (
            [
                "--model.init_args.denoising",
                "BitFlips",
                "--model.init_args.denoising.probability",
                "1",
            ],
            "probability",
        ),
        (["--model.init_args.variational", "maybe"], "variational"),
    ],
)
def test_bad_values_fail_at_parse_time_naming_the_field(
    tiny_config, tmp_path, capsys, override, named
):
    with pytest.raises(SystemExit) as exited:
        build_cli(["fit", "--config", str(tiny_config), *override])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "lightning_logs").exists()  # nothing started


def console_error(monkeypatch, capsys, *args) -> str:
    """Run the console entry point with `args`; it must exit 2; return what it printed."""
    monkeypatch.setattr(sys, "argv", ["lit-evoae", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.integration
def test_unusable_data_dir_is_a_one_line_error(tiny_config, tmp_path, capsys, monkeypatch):
    (tmp_path / "blocked").write_text("")
    err = console_error(
        monkeypatch,
        capsys,
        "fit",
        "--config",
        str(tiny_config),
        "--data.init_args.data_dir",
        "blocked",
    )
    assert "lit-evoae: error: data directory blocked exists but is not a directory" in err


def test_topology_that_does_not_fit_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "coevolution.yaml"
    config.write_text(yaml.safe_dump(COEVOLUTION))
    err = console_error(
        monkeypatch,
        capsys,
        "fit",
        "--config",
        str(config),
        "--model.init_args.topology.init_args.radius",
        "2",
    )
    assert "lit-evoae: error: topology: a ring of size 4 cannot hold a neighbourhood" in err


@pytest.mark.integration
def test_a_trainer_argument_lightning_refuses_is_a_one_line_error(tiny_config, capsys, monkeypatch):
    err = console_error(
        monkeypatch, capsys, "fit", "--config", str(tiny_config), "--trainer.max_epochs", "-3"
    )
    assert "lit-evoae: error: trainer: `max_epochs` must be a non-negative integer" in err


@pytest.mark.integration
@pytest.mark.parametrize(
    ("code", "reason"), [(13, "Permission denied"), (28, "No space left on device")]
)
def test_an_unwritable_output_folder_is_a_one_line_error(
    tiny_config, capsys, monkeypatch, code, reason
):
    import lit_evoae.cli

    def refuse(*args, **kwargs):  # root ignores permissions: make the write itself fail
        raise OSError(code, reason, "out/config.yaml")

    monkeypatch.setattr(lit_evoae.cli, "atomic_write_text", refuse)
    err = console_error(monkeypatch, capsys, "fit", "--config", str(tiny_config))
    assert f"lit-evoae: error: cannot write out/config.yaml: {reason}" in err


@pytest.mark.integration
def test_other_errors_keep_their_traceback(tiny_config, monkeypatch):
    import lit_evoae.cli

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(lit_evoae.cli, "atomic_write_text", broken)
    monkeypatch.setattr(sys, "argv", ["lit-evoae", "fit", "--config", str(tiny_config)])
    with pytest.raises(KeyError):
        main()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            ["--config", "coevolution.yaml"],
            "holds a CanonicalAutoencoder, but the config's model.class_path is "
            "CoevolutionaryAutoencoder",
        ),
        (["--model.init_args.latent_dim", "4"], r"was trained with latent_dim 3 \(config: 4\)"),
        (["--model.init_args.hidden_sizes", "[6]"], r"hidden_sizes \[8\] \(config: \[6\]\)"),
        (["--data.init_args.dim", "30"], r"data dim 20 \(config: 30\)"),
    ],
)
@pytest.mark.parametrize("command", ["test", "fit"])
def test_a_checkpoint_that_is_not_the_configs_model_is_refused(
    tiny_config, tmp_path, capsys, monkeypatch, override, message, command
):
    import re

    build_cli(["fit", "--config", str(tiny_config), "--trainer.max_epochs", "1"])
    checkpoint = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    (tmp_path / "coevolution.yaml").write_text(yaml.safe_dump(COEVOLUTION))
    err = console_error(
        monkeypatch,
        capsys,
        command,
        "--config",
        str(tiny_config),
        *override,
        "--ckpt_path",
        str(checkpoint),
    )
    assert re.search(message, err), err
    assert "use the config it was trained with (config.yaml in its run folder)" in err
    assert not (tmp_path / "lightning_logs" / "version_1").exists()  # refused before starting


def run_command(*args):
    return subprocess.run(["lit-evoae", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_console_script_help_and_print_config():
    top = run_command("--help")
    assert top.returncode == 0 and "fit" in top.stdout and "test" in top.stdout
    assert "lit-evoae export" in top.stdout
    fit_help = run_command("fit", "--help")
    assert fit_help.returncode == 0 and "--checkpoint.monitor" in fit_help.stdout
    printed = run_command("fit", "--config", "configs/canonical.yaml", "--print_config")
    assert printed.returncode == 0, printed.stderr
    config = yaml.safe_load(printed.stdout)
    assert config["model"]["class_path"] == "lit_evoae.systems.CanonicalAutoencoder"
    assert config["data"]["init_args"]["dim"] == 1000
    assert config["checkpoint"]["monitor"] == keys.VAL_L1


class FailAt(pl.Callback):
    """Raises at the end of generation `epoch`, to fail a run part-way."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("a failure inside the run")


@pytest.mark.integration
@pytest.mark.parametrize(("epoch", "kept"), [(0, False), (1, True)])
def test_a_run_failing_in_its_first_generation_leaves_no_folder(tiny_config, tmp_path, epoch, kept):
    failing = [{"class_path": "test_cli.FailAt", "init_args": {"epoch": epoch}}]
    with pytest.raises(RuntimeError, match="a failure inside the run"):
        build_cli(
            ["fit", "--config", str(tiny_config), "--trainer.callbacks", yaml.safe_dump(failing)]
        )
    run = tmp_path / "lightning_logs" / "version_0"
    assert run.is_dir() == kept  # a later failure keeps what it logged and saved


@pytest.mark.integration
def test_a_ddp_split_that_cannot_work_is_refused_before_any_rank_starts(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "coevolution.yaml"
    config.write_text(yaml.safe_dump(COEVOLUTION))  # 4 cells
    err = console_error(
        monkeypatch,
        capsys,
        "fit",
        "--config",
        str(config),
        "--trainer.devices",
        "3",
        "--trainer.strategy",
        "ddp",
    )
    lines = [line for line in err.splitlines() if line.startswith("lit-evoae: error:")]
    assert lines == [
        "lit-evoae: error: 4 cells cannot be split evenly over 3 processes; use a number of "
        "devices x nodes that divides the topology's size"
    ]
    assert not (tmp_path / "lightning_logs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_an_absent_accelerator_is_refused_naming_those_present(tiny_config, capsys, monkeypatch):
    err = console_error(
        monkeypatch, capsys, "fit", "--config", str(tiny_config), "--trainer.accelerator", "gpu"
    )
    assert "lit-evoae: error: trainer.accelerator=gpu is not present on this machine; " in err
    assert "choose one that is: cpu, auto" in err


@pytest.mark.integration
def test_only_a_process_that_trains_tunes_the_allocator(tiny_config, monkeypatch):
    import lit_evoae.cli as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    build_cli(["test", "--config", str(tiny_config)])
    with pytest.raises(SystemExit):
        build_cli(["fit", "--config", str(tiny_config), "--print_config"])
    assert calls == []
    build_cli(["fit", "--config", str(tiny_config), "--trainer.max_epochs", "1"])
    assert calls == [1]
