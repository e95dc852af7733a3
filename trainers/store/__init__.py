"""What a run leaves on disk: atomic writes, config.json, metrics.csv, checkpoints, probe dynamics. Imports no network."""
