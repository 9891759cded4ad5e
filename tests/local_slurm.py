"""A real single-node SLURM on loopback for integration tests (slurmctld + slurmd as root).

Everything it needs lives in one temporary folder; every slurm command must see its
`SLURM_CONF`, which `environment()` provides.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "srun")


def missing_reason() -> str | None:
    """Why a local SLURM cannot run here, or None if it can."""
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        return (
            f"SLURM is not installed ({', '.join(missing)} missing); "
            "install it with: apt-get install slurmctld slurmd slurm-client"
        )
    if os.geteuid() != 0:
        return "the local SLURM test cluster runs its daemons as root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalSlurm:
    def __init__(self, folder: Path, cpus: int = 2) -> None:
        self.folder = folder
        self.host = socket.gethostname().split(".")[0]
        self.conf = folder / "slurm.conf"
        (folder / "state").mkdir(parents=True, exist_ok=True)
        (folder / "spool").mkdir(exist_ok=True)
        settings = {
            "ClusterName": "local",
            "SlurmctldHost": f"{self.host}(127.0.0.1)",
            "AuthType": "auth/none",
            "CredType": "cred/none",
            "MpiDefault": "none",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "ReturnToService": "2",
            "SlurmctldPort": str(_free_port()),
            "SlurmdPort": str(_free_port()),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "StateSaveLocation": str(folder / "state"),
            "SlurmdSpoolDir": str(folder / "spool"),
            "SlurmctldPidFile": str(folder / "slurmctld.pid"),
            "SlurmdPidFile": str(folder / "slurmd.pid"),
            "SlurmctldLogFile": str(folder / "ctld.log"),
            "SlurmdLogFile": str(folder / "d.log"),
            "SchedulerType": "sched/backfill",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "JobCompType": "jobcomp/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "KillWait": "5",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *arguments: str, check: bool = True) -> str:
        done = subprocess.run(
            arguments,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, timeout: float = 60.0) -> None:
        for daemon in DAEMONS:
            self.command(daemon, "-f", str(self.conf))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.command("sinfo", "--noheader", "--format=%T", check=False).strip()
            if state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the local SLURM node did not come up; see {self.folder}/*.log")

    def stop(self) -> None:
        for daemon in reversed(DAEMONS):
            pid_file = self.folder / f"{daemon}.pid"
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass

    def wait_until_empty(self, timeout: float) -> None:
        """Block until the queue holds no job; fail with the queue if it never empties."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queue = self.command("squeue", "--noheader", "--format=%i %T").strip()
            if not queue:
                return
            time.sleep(1.0)
        raise TimeoutError(f"jobs still queued after {timeout:.0f} s:\n{queue}")
