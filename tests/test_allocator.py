import os
import platform
import subprocess
import sys

import pytest

from lit_evoae import allocator
from lit_evoae.population.stacked import StackedAutoencoder

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")

# The minor page faults of 6 training steps of a 300-network population (after a pass that
# lets the heap grow to its working size). Its first-layer gradient is 36 MB, above the
# largest threshold glibc's own sliding one reaches (32 MB), so without the change every
# step maps it anew; a 38-trial pack's smaller tensors fault too, but by how much varies
# with the heap's history (3,200 to 21,600 faults in 12 steps of 16 networks).
FAULTS = """
import resource, sys, torch
from lit_evoae.allocator import keep_freed_memory
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.stacked import reconstruction_l1
from lit_evoae.population.training import train_pass
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.manual_seed(0)
population = StackedAutoencoder(300, [1000, 30, 10], [10, 30, 1000])
adam = StackedAdam(population, state="reset_every_step")
data = (torch.rand(30, 1000) > 0.5).float()
orders = torch.arange(30).expand(300, 30)
rates = torch.full((300,), 1e-5)
def one_pass():
    losses = lambda step, inputs, targets: reconstruction_l1(population(inputs), targets)
    train_pass(population, adam, rates, data, orders, 5, losses)
one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
one_pass()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str, **environment: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, mode],
        env={**env, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.slow
@glibc
def test_freed_tensors_are_reused_instead_of_faulted_in_again():
    returned = page_faults("default")  # glibc maps and zero-fills the gradients anew
    kept = page_faults("keep")
    one_step = (
        sum(p.numel() for p in StackedAutoencoder(300, [1000, 30, 10], [10, 30, 1000]).parameters())
        * 4
        // 4096
    )
    assert returned > 10 * one_step  # measured here: 328,000 to 340,000 in 6 steps
    assert kept < 4 * one_step  # measured here: 0 to 44,000, against 17,600 pages a step


def test_a_user_setting_of_glibc_malloc_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator.keep_freed_memory() is False


@glibc
def test_without_a_user_setting_the_thresholds_are_raised(monkeypatch):
    for name in allocator.USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory() is True
