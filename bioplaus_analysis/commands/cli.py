"""The `bioplaus` command. Bad input prints one line and exits with status 2, never a traceback.

Options of `train`, `analyze` and `compare` are generated from `TrainConfig`, `AnalysisOptions` and
`CompareOptions` (`cli_options`): their defaults live in the dataclasses only."""

import argparse
import json
import os
import shlex
import signal
import sys
import warnings
from pathlib import Path

from trainers import (DATASETS, DEFAULT_DEVICE, DEVICES, ENCODERS, MODELS, NEURONS, OPTIMIZERS, RULES, SCHEDULES, SURROGATES,
                      BioplausError, BioplausWarning, Interrupted, RunDirError, TrainConfig, __version__,
                      EPOCHS_DEFAULT, SPIKING_DEFAULTS, default_epochs, keep_freed_memory, train, tune, unknown_name)
from trainers.rules import DEFAULT_RULES
from trainers.store.runfiles import epochs_done, read_config, read_metrics

from ..choices import ATTACKS, COMPARISONS, EMBEDDINGS, FIGURES, MNIST_LIKE_EPS, MODES, RDM_METHODS
from .cli_options import Option, add_options, csv_list, values_of
from .compare import CompareOptions
from .reproduce import GRID, SEEDS
from ..options import AnalysisOptions

# What Ctrl-C leaves and how to go on, by command.
CONTINUE = {"train": "a run with a checkpoint (model.pt) continues with --resume; one without starts again",
            "compare": "finished runs and analyses are kept; rerun the same command to continue",
            "reproduce": "finished runs are kept; rerun the same command to continue",
            "tune": "finished trials are kept; rerun the same command to continue",
            "analyze": "nothing was written (results are written at the end); rerun the command",
            "figures": "figures already drawn are complete; rerun the command", "summary": "rerun the command"}

TRAIN_OPTIONS = (
    Option("model", f"one of {', '.join(MODELS)} (snn and csnn spike), or a factory package.module:function"),
    Option("rule", f"one of {', '.join(RULES)}"),
    Option("dataset", f"one of {', '.join(DATASETS)}"),
    Option("epochs", type=int), Option("seed", "fixes initial weights, feedback and batch order", int),
    Option("batch_size", type=int), Option("lr", "peak learning rate (default: the recipe's, else the rule's)", float),
    Option("optimizer", f"one of {', '.join(OPTIMIZERS)} (default: the recipe's, else the rule's)"),
    Option("momentum", type=float), Option("weight_decay", type=float),
    Option("schedule", f"one of {', '.join(SCHEDULES)}"),
    Option("feedback_optimizer", "DKP's feedback optimiser"),
    Option("feedback_lr", "DKP's feedback learning rate (default: the recipe's, else 1e-4)", float), Option("feedback_weight_decay", type=float),
    Option("device", f"one of {', '.join(DEVICES)} (auto: CUDA if present)"),
    Option("deterministic", "allow PyTorch's nondeterministic CUDA kernels (faster; a seed then no longer fixes "
                            "a GPU run)", flag="--nondeterministic"),
    Option("tf32", "train with TF32 matrix products and convolutions on CUDA (analyses always measure in full "
                   "float32)"),
    Option("cuda_graph", "record each batch's forward, objective and backward once as a CUDA graph and replay "
                         "it (a GPU step is then a few launches; the same kernels, the same result)"),
    Option("data_dir", "folder holding the files of mnist, fashion-mnist, cifar10"),
    Option("limit_train", "train on this many training images", int),
    Option("validation", "fraction of the training split held out for selection (stratified, the same slice for "
                         "every run; 0: train on all of it)", float),
    Option("probes_per_class", "held-out images per class whose RDMs and the weight alignment dynamics.npz "
                               "records at initialisation and after every epoch (0: none)", int),
)
# Shared by `analyze` and `compare`.
SAMPLE_OPTIONS = (
    Option("per_class", "test images per class for RDMs and embeddings", int),
    Option("eval_per_class", "test images per class for SNR, cosine and attacks (default 20 on digits and "
                             "mnist-5k, else 50)", int),
    Option("eps", "attack budgets in pixel units, e.g. 0,0.1,0.2 (default for MNIST-like data "
                  f"{', '.join(f'{eps:g}' for eps in MNIST_LIKE_EPS)}: dense where accuracy falls; 0-8/255 for "
                  "CIFAR-10)", float,
           csv=True),
    Option("pgd_steps", type=int),
    Option("data_dir", "folder holding the dataset files (as for train)"),
    Option("device", f"one of {', '.join(DEVICES)}"),
)
ANALYSIS_OPTIONS = SAMPLE_OPTIONS + (
    Option("rdm_method", f"one of {', '.join(RDM_METHODS)}"),
    Option("comparison", f"RDM comparison for paths and RDM-to-RDM similarities: {', '.join(COMPARISONS)}",
           flag="--compare"),
    Option("label_comparison", "RDM comparison against the label RDM (default tau-a: Kendall's τ_A)",
           flag="--label-compare"),
    Option("embeddings", f"comma-separated, of {', '.join(EMBEDDINGS)}", csv=True),
    Option("attacks", f"of {', '.join(ATTACKS)}", csv=True, flag="--attack"),
    Option("modes", f"of {', '.join(MODES)} (true: white box; feedback: the rule's pseudo-gradient, a "
                    "gradient-masking probe; transfer: crafted on each other run)", csv=True),
    Option("adversarial_eps", "ε of the RDMs under attack (default: the middle of --eps)", float),
    Option("snr_eps", "ε in |mean| / (std + ε)", float),
    Option("bootstrap", "image resamples behind each RDM comparison's 95 % interval in stats.csv", int),
    Option("seed", "fixes the samples, embeddings and PGD starts", int),
    Option("allow_unfinished", "analyse runs that have not finished every epoch (results.json records it)"),
)
COMPARE_OPTIONS = SAMPLE_OPTIONS + (
    Option("dataset", f"one of {', '.join(DATASETS)} (fashion-mnist --seeds 5 is the paper-grade setting)"),
    Option("models", f"of {', '.join(MODELS)}, or factories package.module:function", csv=True),
    Option("rules", f"of {', '.join(RULES)} (default: {', '.join(DEFAULT_RULES)} on the models they train)", csv=True),
    Option("seeds", "number of seeds per model and rule: 0..N-1", int),
    Option("epochs", f"epochs of every run (default {EPOCHS_DEFAULT})", int),
    Option("cuda_graph", "train every run with --cuda-graph (its step replayed from a CUDA graph; see train)"),
    Option("jobs", "runs (and analyses) at once, each in its own process with cores / N CPU threads", int),
    Option("threads", "CPU threads of each run and analysis (default: cores / jobs; on the CPU the float results "
                      "depend on it)", int),
    Option("only", f"figures to draw, comma-separated, of {', '.join(FIGURES)} (default: every figure the "
                   "analysis holds data for)", csv=True),
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit 2), like every other bioplaus error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_train(subparsers):
    p = subparsers.add_parser("train", help="train one model with one learning rule into a run folder",
                              description="Train one model with one learning rule; writes config.json, "
                                          "metrics.csv and model.pt into --out after every epoch.")
    p.add_argument("--out", required=True, help="run folder to write (refused if it holds a run)")
    add_options(p, TrainConfig, TRAIN_OPTIONS)
    _add_model_options(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    config = TrainConfig(**values_of(args, TRAIN_OPTIONS), model_options=_model_options(args))
    run_dir = train(config, args.out, resume=args.resume, force=args.force,
                    progress=False if args.quiet else None)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line from rank 0
        print(f"run written to {run_dir}")
    return 0


# tune chooses the learning rate, optimiser and feedback lr itself and sets the seeds of its trials.
TUNE_OPTIONS = tuple(Option("epochs", f"epochs of every trial (default {EPOCHS_DEFAULT})", int)
                     if option.field == "epochs" else option
                     for option in TRAIN_OPTIONS if option.field not in ("seed", "lr", "optimizer", "feedback_lr"))
MODEL_FLAGS = ("hidden", "channels", "fc_width", "norm", "depth", "time_steps", "encoding", "neuron", "surrogate", "g")


def _add_model_options(p, tuned: bool = False):
    """The model's architecture flags (and, unless `tuned`, aDFA's g, which tune chooses)."""
    p.add_argument("--hidden", default=None, help="MLP or SNN hidden widths, e.g. 1000 or 1000,250,100")
    p.add_argument("--channels", default=None, help="CNN conv channels, e.g. 32,32")
    p.add_argument("--fc-width", type=int, default=None, help="CNN hidden fully connected width")
    p.add_argument("--norm", default=None, help="CNN normalisation after each conv: batch or none (default batch)")
    p.add_argument("--depth", type=int, default=None, help="ResNet depth 6n + 2: 8, 20, 32, 56 (default 20)")
    p.add_argument("--model-options", type=_json_object, default=None,
                   help='keyword arguments of a factory --model package.module:function, as JSON, e.g. \'{"width": 32}\'')
    snn = p.add_argument_group("spiking models (snn, csnn)")
    snn.add_argument("--time-steps", type=int, default=None, help=f"simulation steps T (default {SPIKING_DEFAULTS['time_steps']})")
    snn.add_argument("--encoding", default=None, help=f"one of {', '.join(ENCODERS)} (default {SPIKING_DEFAULTS['encoding']})")
    snn.add_argument("--neuron", default=None, help=f"LIF preset, one of {', '.join(NEURONS)} "
                                                                f"(default {SPIKING_DEFAULTS['neuron']})")
    snn.add_argument("--surrogate", default=None, help=f"spike derivative for BP and DFA: {', '.join(SURROGATES)}, "
                                                       f"optionally NAME:PARAM (default {SPIKING_DEFAULTS['surrogate']})")
    if not tuned:
        snn.add_argument("--g", default=None, help="aDFA's replacement of the derivative, same choices "
                                                   f"(default {SPIKING_DEFAULTS['g']})")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}); pass e.g. '{{\"width\": 32}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of keyword arguments, got {text}")
    return value


def _model_options(args) -> dict:
    flags = {key: getattr(args, key) for key in MODEL_FLAGS if getattr(args, key, None) is not None}
    return dict(getattr(args, "model_options", None) or {}, **flags)


def _add_tune(subparsers):
    p = subparsers.add_parser("tune", help="choose a rule's learning rate and knobs on the validation split",
                              description="Search the learning rate (and DKP's feedback lr, aDFA's g, a spiking "
                                          "network's init gain) of one dataset, model and rule by one protocol "
                                          "(README: Tuning) on the validation split; the test split is never "
                                          "read. Writes trials.csv and recipe.json into --out; rerun to continue.")
    p.add_argument("--out", required=True, help="folder for trials.csv, recipe.json and the trial runs")
    p.add_argument("--runs", default=None, help="folder of the trial runs (default OUT/trials)")
    add_options(p, TrainConfig, TUNE_OPTIONS)
    _add_model_options(p, tuned=True)
    p.add_argument("--finalists", type=int, default=2, help="best settings retrained with more seeds (default 2)")
    p.add_argument("--confirm-seeds", type=int, default=2, help="extra seeds per finalist (default 2)")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.set_defaults(handler=_run_tune, epochs=None)


def _run_tune(args) -> int:
    from .compare import CompareOptions
    values = values_of(args, TUNE_OPTIONS)
    values["epochs"] = values["epochs"] or default_epochs(values["dataset"], values["model"])
    try:
        entry = tune(TrainConfig(**values, model_options=_model_options(args)), args.out, args.runs,
                     finalists=args.finalists, confirm_seeds=args.confirm_seeds,
                     progress=False if args.quiet else None)
    except Interrupted as exc:  # a trial's "continue with --resume" is not how tune continues
        raise Interrupted(f"stopped by {signal.Signals(exc.signum).name}; {CONTINUE['tune']}", exc.signum) from None
    accuracy = entry["validation_acc"]
    seeds = len(accuracy["per_seed"])
    print(f"chosen: {json.dumps(entry['values'])}, validation accuracy {accuracy['mean']:.2%} over "
          f"{seeds} seed{'s' if seeds > 1 else ''} ({entry['tuned_with']['trials']} trials)")
    print(f"evidence in {Path(args.out) / 'trials.csv'}; the recipe in {Path(args.out) / 'recipe.json'} "
          "(`make recipes` merges tuning/*/*/recipe.json into the shipped trainers/tuning/recipes.json)")
    return 0


def _add_summary(subparsers):
    p = subparsers.add_parser("summary", help="print the final accuracy of runs as a table",
                              description="Print one line per run: model, rule, dataset, seed, epochs "
                                          "done and the last epoch's validation and test accuracy.")
    p.add_argument("runs", nargs="+", help="run folders written by `bioplaus train`")
    p.set_defaults(handler=_run_summary)


def _summary_line(run) -> str:
    config, rows = read_config(run), read_metrics(run)
    done = epochs_done(run)
    if done == 0:
        raise RunDirError(f"{run} has no finished epoch yet; train it first")
    rows = rows[:done]  # a row whose checkpoint was never written is not a finished epoch
    accuracies = " ".join(f"{rows[-1][key]:>8.2%}" if key in rows[-1] else f"{'—':>8}" for key in ("val_acc", "test_acc"))
    return (f"{Path(run).name:<28} {config['model']:<5} {config['rule']:<4} {config['dataset']:<13} "
            f"{config['seed']:>4} {rows[-1]['epoch']:>3}/{config['epochs']:<2} {accuracies}")


def _run_summary(args) -> int:
    """One line per run; a folder that is not a finished run gets its error in its place, and the exit
    status is 2 when any did."""
    print(f"{'run':<28} {'model':<5} {'rule':<4} {'dataset':<13} {'seed':>4} {'epochs':>6} {'val_acc':>8} "
          f"{'test_acc':>8}")
    bad = 0
    for run in args.runs:
        try:
            print(_summary_line(run))
        except BioplausError as exc:
            bad += 1
            print(f"{Path(run).name:<28} error: {exc}")
    if bad:
        print(f"bioplaus summary: {bad} of {len(args.runs)} folders are not finished runs (see above)", file=sys.stderr)
    return 2 if bad else 0


def _add_analyze(subparsers):
    p = subparsers.add_parser("analyze", help="RDMs, representational paths, embeddings, gradient SNR, "
                                              "cosine to BP and attacks of trained runs",
                              description="Analyse runs of one dataset; writes results.json and arrays.npz "
                                          "into --out. Never trains.")
    p.add_argument("runs", nargs="+", help="run folders written by `bioplaus train` (one dataset)")
    p.add_argument("--out", required=True, help="folder for results.json and arrays.npz")
    add_options(p, AnalysisOptions, ANALYSIS_OPTIONS)
    p.add_argument("--force", action="store_true", help="replace results already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_analyze)


def _run_analyze(args) -> int:
    from ..analysis import analyze
    out = analyze(args.runs, args.out, AnalysisOptions(**values_of(args, ANALYSIS_OPTIONS)), force=args.force,
                  progress=False if args.quiet else None)
    print(f"analysis written to {out}")
    return 0


def _grid_text() -> str:
    """The reproduction grid in words, e.g. "CNN x {bp, fa} (10 epochs) and SNN 784-1000-10 x {bp} (15 epochs)"."""
    names = {"cnn": "CNN", "snn": "SNN 784-1000-10"}
    return " and ".join(f"{names[m]} x {{{', '.join(rules)}}} ({epochs} epochs)" for m, (rules, epochs) in GRID.items())


def _add_reproduce(subparsers):
    p = subparsers.add_parser("reproduce", help="train the reproduction grid and write the accuracy table",
                              description=f"Train {_grid_text()} for every seed on fashion-mnist, and on "
                                          "mnist and cifar10 when their files are in --data-dir (the SNN on MNIST-like "
                                          "data only); finished runs are skipped. Writes reproduction.csv and "
                                          "reproduction.md into --out.")
    p.add_argument("--out", default="runs/reproduce", help="folder for the runs and the table (default runs/reproduce)")
    p.add_argument("--data-dir", default=None, help="folder holding mnist / cifar10 (and fashion-mnist) files")
    p.add_argument("--seeds", type=csv_list("--seeds", int), default=list(SEEDS),
                   help=f"the seeds themselves, e.g. 0,1 (default {','.join(map(str, SEEDS))})")
    p.add_argument("--models", type=csv_list("--models"), default=["cnn", "snn"], help="of cnn, snn")
    p.add_argument("--rules", type=csv_list("--rules"), default=None,
                   help="train only these rules of the grid (default all); the table shows every finished run")
    p.add_argument("--device", default=DEFAULT_DEVICE, help=f"one of {', '.join(DEVICES)}")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process (default 1)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per run (default: cores / jobs)")
    cluster = p.add_argument_group("cluster sweeps (pip install 'bioplaus[cluster]')")
    cluster.add_argument("--executor", default=None, help="submit one job per run: slurm, or local (the same path "
                                                          "on this machine)")
    cluster.add_argument("--partition", default=None, help="SLURM partition")
    cluster.add_argument("--time", type=int, default=60, help="minutes per job (default 60; a job that runs out "
                                                              "is requeued and resumes)")
    cluster.add_argument("--no-wait", action="store_true", help="submit and return; rerun with --table-only "
                                                                "when the jobs are done")
    p.add_argument("--table-only", action="store_true", help="write the table from the finished runs; train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run_reproduce)


def _run_reproduce(args) -> int:
    from .accuracy_table import table, write_table
    from .reproduce import check_options, reproduce
    cluster = None if args.executor is None else {"executor": args.executor, "partition": args.partition,
                                                  "time_min": args.time, "wait": not args.no_wait}
    check_options(args.seeds, args.models, args.device, args.jobs, args.threads, cluster, args.rules)
    if args.table_only:
        if not Path(args.out).is_dir():
            raise RunDirError(f"{args.out} holds no runs; run `bioplaus reproduce --out {args.out}` first")
        paths = write_table(table(args.out), args.out)
    else:
        paths = reproduce(args.out, args.data_dir, args.seeds, args.models, args.device,
                          progress=False if args.quiet else None, jobs=args.jobs, cluster=cluster,
                          threads=args.threads, rules=args.rules)
        if paths is None:
            print(f"jobs submitted; when they are done: bioplaus reproduce --out {args.out} --table-only")
            return 0
    print(f"table written to {paths[0]} and {paths[1]}")
    print(paths[1].read_text(), end="")
    return 0


def _add_compare(subparsers):
    p = subparsers.add_parser("compare", help="the main job: train every model x rule x seed, analyse, draw every "
                                              "figure",
                              description="Train every combination of --models, --rules and seeds (runs already "
                                          "complete are reused, unfinished ones resume), analyse each model's runs "
                                          "and draw every figure (PDF + PNG) with the accuracy table and a manifest. "
                                          "Rules are applied to the models they train (fa, usf, frsf, brsf, kp: non-spiking "
                                          "networks; adfa: snn, csnn).")
    add_options(p, CompareOptions, COMPARE_OPTIONS)
    p.add_argument("--out", default="out", help="folder for runs/, analysis/ and figures/ (default out)")
    p.add_argument("--figures", default=None, help="folder for the figures, table and manifest (default OUT/figures)")
    p.add_argument("--runs", default=None, help="folder of the runs (default OUT/runs); runs of `bioplaus "
                                                "reproduce --out DIR` are reused with --runs DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    from .compare import compare, stage_line
    options = CompareOptions(**values_of(args, COMPARE_OPTIONS))
    command = "bioplaus " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    done = compare(args.out, options, args.figures, args.runs, progress=False if args.quiet else None,
                   command=command)
    print(done["table"].read_text(), end="")
    print(f"compare finished in {done['seconds']:.0f} s: {len(done['figures'])} figure files in "
          f"{done['table'].parent}")
    print(stage_line(done["stages"]))
    return 0


def _add_figures(subparsers):
    p = subparsers.add_parser("figures", help="draw the figures of an analysis folder (PDF + PNG)",
                              description="Draw every figure that an analysis folder holds data for, from its "
                                          "results.json and arrays.npz alone (no training, no analysis).")
    p.add_argument("analysis", help="folder written by `bioplaus analyze`")
    p.add_argument("--out", required=True, help="folder for the figures")
    p.add_argument("--prefix", default="", help="file-name prefix, e.g. cnn-")
    p.add_argument("--only", type=csv_list("--only"), default=None, help=f"comma-separated, of {', '.join(FIGURES)}")
    p.add_argument("--force", action="store_true", help="replace figures in --out drawn from another analysis")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(handler=_run_figures)


def _run_figures(args) -> int:
    from ..figures import draw_figures
    for name in args.only or []:
        if name not in FIGURES:
            raise unknown_name("figure", name, FIGURES)
    drawn = draw_figures(args.analysis, args.out, args.prefix, args.only, progress=False, force=args.force)
    if not args.quiet:
        print("\n".join(str(path) for paths in drawn.values() for path in paths))
        missing = [] if args.only is not None else [name for name in FIGURES if name not in drawn]
        if missing:
            print(f"not drawn, the analysis holds no data for them: {', '.join(missing)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bioplaus", description="Train and dissect networks with biologically "
                                                  "plausible learning rules.")
    parser.add_argument("--version", action="version", version=f"bioplaus {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(subparsers)
    _add_tune(subparsers)
    _add_summary(subparsers)
    _add_analyze(subparsers)
    _add_reproduce(subparsers)
    _add_compare(subparsers)
    _add_figures(subparsers)
    return parser


def _one_line_warnings(command: str):
    """showwarning that prints a BioplausWarning as one line (other warnings as Python would)."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, BioplausWarning):
            print(f"bioplaus {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def main(argv=None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            return args.handler(args)
    except Interrupted as exc:
        print(f"bioplaus {args.command}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except BioplausError as exc:
        print(f"bioplaus {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bioplaus {args.command}: interrupted; {CONTINUE[args.command]}", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine's, not the input's: a full disk, a folder without write permission
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"bioplaus {args.command}: error: {exc.strerror or exc}{where}; free space or fix the folder, then rerun "
              "(finished work is kept; a half-written epoch does not count)", file=sys.stderr)
        return 2
