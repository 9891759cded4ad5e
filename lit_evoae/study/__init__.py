"""Studies: many trials of many variants, run locally (and later on SLURM), then reported."""
