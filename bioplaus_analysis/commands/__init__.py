"""What runs the analyses: the `bioplaus` command and its options, `compare` and `reproduce`, the jobs and
cluster sweeps behind them, and the accuracy table. The analyses themselves live one level up and never
import this package."""
