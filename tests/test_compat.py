"""Every private torch or Lightning call lit_evoae makes still exists (see lit_evoae/compat.py).

These fail loudly, naming the call, when an upgrade removes one."""

import inspect

import pytorch_lightning as pl
import torch

from lit_evoae import compat


def test_torch_still_has_its_fused_adam_kernel():
    assert compat.fused_adam_ is not None, "torch._fused_adam_ is gone: StackedAdam falls back"
    assert callable(compat.fused_adam_)


def test_lightning_still_has_the_attributes_lit_evoae_sets(tmp_path):
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    connector = trainer._accelerator_connector
    assert hasattr(connector, "use_distributed_sampler"), "use_distributed_sampler is gone"
    compat.keep_whole_training_set_per_rank(trainer)
    assert trainer._accelerator_connector.use_distributed_sampler is False
    path = compat.hpc_save_path(trainer, str(tmp_path))
    assert path.endswith("hpc_ckpt_1.ckpt"), "Trainer._checkpoint_connector.hpc_save_path changed"
    assert callable(trainer._checkpoint_connector.dump_checkpoint), "dump_checkpoint is gone"


def test_a_dumped_checkpoint_is_what_save_checkpoint_writes(tmp_path, tiny_data):
    from lit_evoae.systems import CanonicalAutoencoder

    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(CanonicalAutoencoder(24, (6,), 3), datamodule=tiny_data)
    dumped = compat.dump_checkpoint(trainer)
    trainer.save_checkpoint(tmp_path / "saved.ckpt")
    saved = torch.load(tmp_path / "saved.ckpt", weights_only=True)
    assert dumped["epoch"] == saved["epoch"] and dumped.keys() == saved.keys()
    for name, tensor in saved["state_dict"].items():
        assert torch.equal(dumped["state_dict"][name], tensor), name


def test_lightning_ddp_strategy_still_keeps_its_wrapper_options():
    from pytorch_lightning.strategies import DDPStrategy

    strategy = DDPStrategy(find_unused_parameters=False)
    options = compat.ddp_options(strategy)
    assert options == {"find_unused_parameters": False}, "DDPStrategy._ddp_kwargs is gone"
    assert (
        "broadcast_buffers"
        in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
    )


def test_lightning_still_has_what_lit_evoae_subclasses_override(tmp_path):
    from pytorch_lightning.cli import LightningCLI
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    from lit_evoae.systems import CanonicalAutoencoder

    assert callable(getattr(LightningCLI, "_parse_ckpt_path", None)), "_parse_ckpt_path is gone"
    assert callable(getattr(ExperimentWriter, "_check_log_dir_exists", None))
    assert callable(getattr(torch.nn.Module, "_apply", None))
    model = CanonicalAutoencoder(input_dim=4, hidden_sizes=(3,), latent_dim=2)
    assert compat.attached_trainer(model) is None
    trainer = pl.Trainer(accelerator="cpu", logger=False, default_root_dir=tmp_path)
    model.trainer = trainer
    assert compat.attached_trainer(model) is trainer, "LightningModule._trainer is gone"
