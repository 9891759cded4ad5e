"""Studies: many trials of many variants, run locally or as SLURM job arrays, then reported."""
