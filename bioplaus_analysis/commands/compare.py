"""The main job behind `bioplaus compare`: train every (model, rule, seed), analyse each model's runs, draw
every figure, write the accuracy table and a manifest of what made each figure.

Everything lands in one folder, and a second call into it reuses what is finished: complete runs
are skipped (unfinished ones resume), an analysis is redone only when its runs or options changed, and
figures are redrawn only when their analysis or the drawing code changed (one whose file is missing, alone).
Layout: OUT/runs/DATASET-MODEL-RULE-sSEED (or --runs: the names `bioplaus reproduce` uses, so its runs are
reused), OUT/analysis/MODEL, OUT/figures (or --figures), OUT/compare.json.
"""

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trainers import (DATASETS, DEFAULT_DEVICE, RULES, ConfigError, Interrupted, RunDirError, TrainConfig, __version__,
                      check_model, default_epochs, is_spiking, require_cuda_graph_device, resolve_device, train, unknown_name)
from trainers.rules import DEFAULT_RULES
from trainers.store.runfiles import atomic_write, check_folder, finished_run, make_writable_folder, model_slug, run_name

from .accuracy_table import table, write_table
from ..choices import FIGURES
from .jobs import check_jobs, run_tasks, threads_per_job
from ..options import AnalysisOptions, default_eval_per_class
from ..results import COST, RESULTS, STATS
from ..stage_times import StageTimes

MARKER = "compare.json"


@dataclass
class CompareOptions:
    """What `compare` trains and how it analyses; None fields take per-dataset defaults (see `resolved`)."""
    dataset: str = "mnist-5k"
    models: tuple = ("cnn", "snn")
    rules: tuple | None = None  # None: the classic five and the readout control (DEFAULT_RULES), each where it trains
    seeds: int = 1
    epochs: int | None = None
    per_class: int = AnalysisOptions.per_class
    eval_per_class: int | None = None  # default `default_eval_per_class`, as analyze's
    eps: list | None = None
    pgd_steps: int = AnalysisOptions.pgd_steps
    data_dir: str | None = None
    device: str = DEFAULT_DEVICE
    cuda_graph: bool = False  # train each run with --cuda-graph (trainers.loop.steps)
    jobs: int = 1  # runs (and analyses) at once, each in its own process (`jobs`)
    threads: int | None = None  # CPU threads per run and analysis (default: the cores / jobs)
    analysis: dict = field(default_factory=dict)  # further keyword arguments of `analyze`
    only: tuple | None = None  # the figures to draw (None: every figure the analysis holds data for)

    def resolved(self) -> "CompareOptions":
        if self.dataset not in DATASETS:
            raise unknown_name("dataset", self.dataset, DATASETS)
        for model in self.models:
            check_model(model, "bp", {})  # a name of MODELS or a factory that imports
        explicit = self.rules is not None
        rules = tuple(self.rules) if explicit else tuple(r for r in DEFAULT_RULES
                                                            if any(_trains(r, m) for m in self.models))
        for rule in rules:
            if rule not in RULES:
                raise unknown_name("rule", rule, RULES)
            if not any(_trains(rule, model) for model in self.models):
                raise ConfigError(f"rule {rule!r} trains none of the models {', '.join(self.models)}")
        check_jobs(self.jobs)
        for name in self.only or ():
            if name not in FIGURES:
                raise unknown_name("figure", name, FIGURES)
        if self.cuda_graph:
            require_cuda_graph_device(resolve_device(self.device))
        if self.seeds < 1 or (self.epochs is not None and self.epochs < 1):
            raise ConfigError("--seeds and --epochs must be positive integers")
        checked = self.analysis_options(self.eval_per_class or 1).resolved(self.dataset)  # before any data is read
        eval_per_class = (self.eval_per_class if self.eval_per_class is not None
                          else default_eval_per_class(self.dataset, self.data_dir))
        eps = None if self.eps is None else list(checked.eps)  # sorted once: analyze does not warn again
        only = None if self.only is None else tuple(self.only)
        return CompareOptions(**dict(asdict(self), models=tuple(self.models), rules=rules,
                                     eval_per_class=eval_per_class, eps=eps, only=only))

    def analysis_options(self, eval_per_class: int | None) -> AnalysisOptions:
        """The options each model's `analyze` runs with; ConfigError for an option `analyze` does not have."""
        try:
            return AnalysisOptions(per_class=self.per_class, eval_per_class=eval_per_class, eps=self.eps,
                                   pgd_steps=self.pgd_steps, data_dir=self.data_dir, device=self.device,
                                   **self.analysis)
        except TypeError as exc:
            raise ConfigError(f"compare's analysis options: {exc}") from None

    def epochs_of(self, model: str) -> int:
        if self.epochs is not None:
            return self.epochs
        return default_epochs(self.dataset, model)

    def runs(self) -> list[tuple[str, str, int]]:
        """(model, rule, seed) for every rule that trains the model, seed outermost."""
        return [(model, rule, seed) for seed in range(self.seeds) for model in self.models for rule in self.rules
                if _trains(rule, model)]


def _trains(rule: str, model: str) -> bool:
    return RULES[rule].trains(is_spiking(model))


def _commit() -> str | None:
    """The git commit of the installed source ("-dirty" when the code has uncommitted changes; figures and
    runs do not count), None outside a checkout."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        code = [":/bioplaus_analysis", ":/trainers", ":/pyproject.toml"]
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no", "--", *code) else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _prepare(out: Path) -> dict:
    """The folder's compare.json (empty for a new folder). Refuses a folder holding anything but runs/,
    analysis/ and figures/ without compare.json: runs trained elsewhere may be placed in OUT/runs."""
    check_folder(out)
    marker = out / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text())
        except json.JSONDecodeError:
            raise RunDirError(f"{marker} is not valid JSON; remove it or pass another --out") from None
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ("runs", "analysis", "figures")) \
        if out.is_dir() else []
    if foreign:
        raise RunDirError(f"--out {out} holds files that `bioplaus compare` did not write ({', '.join(foreign[:3])}); "
                          "pass an empty or new folder")
    make_writable_folder(out)
    return {}


def check_figures_folder(figures_dir: Path) -> None:
    """RunDirError when `figures_dir` holds files compare would replace (figures, tables, manifest) but neither
    the manifest.json of an earlier compare nor the figures.json of bioplaus's drawing: the user's files are
    never overwritten."""
    if not figures_dir.is_dir():
        return
    suffixes = (".pdf", ".png", ".md", ".csv", ".json")  # what compare writes there
    replaceable = sorted(p.name for p in figures_dir.iterdir() if p.suffix in suffixes)
    try:
        manifest = json.loads((figures_dir / "manifest.json").read_text())
        by_compare = isinstance(manifest, dict) and "files" in manifest and "command" in manifest
    except (OSError, ValueError):
        by_compare = False
    if replaceable and not by_compare and not (figures_dir / "figures.json").is_file():
        raise RunDirError(f"--figures {figures_dir} holds files that compare did not write "
                          f"({', '.join(replaceable[:3])}); pass an empty or new folder")


def train_task(config: TrainConfig, run_dir: Path) -> str:
    """Train (or continue) one run; a task of `jobs.run_tasks`."""
    try:
        train(config, run_dir, resume=True, progress=False)
    except Interrupted as exc:
        raise Interrupted(f"{exc}; or rerun the same command, which continues it", exc.signum) from None
    return str(run_dir)


def train_runs(options: CompareOptions, runs_dir: Path, progress=None, log=print) -> dict:
    """Train each (model, rule, seed) into `runs_dir` unless it is finished, up to `options.jobs` at once;
    returns {model: [run dirs]}."""
    runs, tasks = {}, {}
    todo = options.runs()
    for model, rule, seed in todo:
        run_dir = runs_dir / run_name(options.dataset, model, rule, seed)
        runs.setdefault(model, []).append(run_dir)
        config = TrainConfig(model=model, rule=rule, dataset=options.dataset, seed=seed,
                             epochs=options.epochs_of(model), data_dir=options.data_dir, device=options.device,
                             cuda_graph=options.cuda_graph)
        if not finished_run(run_dir, config.resolved().identity()):
            tasks[run_dir.name] = (train_task, (config, run_dir))
    run_tasks(tasks, options.jobs, "train", progress, options.threads)
    log(f"runs: {len(tasks)} trained, {len(todo) - len(tasks)} reused from {runs_dir}")
    return runs


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What an analysis holds; raised when it gains a section, so that older analyses are not reused (2: learning
# dynamics and stats.csv; 3: cost.csv).
ANALYSIS_CONTENTS = 3


def _analysis_key(options: CompareOptions, run_dirs) -> dict:
    """What an analysis depends on: the runs (SHA-256 of each checkpoint), the analysis
    options and what an analysis holds."""
    return {"contents": ANALYSIS_CONTENTS,
            "runs": {d.name: _digest(d / "model.pt") for d in run_dirs},
            "options": {k: v for k, v in asdict(options).items()
                        if k in ("per_class", "eval_per_class", "eps", "pgd_steps", "analysis")}}


def analysis_task(run_dirs, folder: Path, options: CompareOptions, progress) -> str:
    """Analyse one model's runs into `folder`; a task of `jobs.run_tasks`."""
    from ..analysis import analyze
    analyze(run_dirs, folder, per_class=options.per_class, eval_per_class=options.eval_per_class,
            eps=options.eps, pgd_steps=options.pgd_steps, data_dir=options.data_dir, device=options.device,
            force=True, progress=progress, **options.analysis)
    return str(folder)


def analyse_models(options: CompareOptions, runs: dict, out: Path, state: dict, progress=None,
                   log=print) -> tuple[dict, list]:
    """Analyse each model's runs into OUT/analysis/MODEL unless an analysis of the same runs and options is
    there (models at once with --jobs above 1); returns ({model: analysis folder}, [models analysed now])."""
    folders = {model: out / "analysis" / model_slug(model) for model in runs}
    tasks, keys = {}, {}
    for model, run_dirs in runs.items():
        keys[model] = _analysis_key(options, run_dirs)
        if state.get("analysis", {}).get(model) == keys[model] and (folders[model] / RESULTS).is_file():
            log(f"analysis of {model}: reused {folders[model]}")
            continue
        alone = options.jobs == 1 or len(runs) == 1
        tasks[model] = (analysis_task, (run_dirs, folders[model], options, progress if alone else False))
    written = []
    for model in run_tasks(tasks, options.jobs, "analyse", False, options.threads):
        state.setdefault("analysis", {})[model] = keys[model]
        atomic_write(out / MARKER, json.dumps(state, indent=2) + "\n")
        log(f"analysis of {model}: written to {folders[model]}")
        written.append(model)
    return folders, written


def drawing_files() -> list[Path]:
    """The files that draw a figure: the figures package's modules and its style sheet."""
    from .. import figures
    return sorted(p for p in Path(figures.__file__).parent.glob("*.*") if p.suffix in (".py", ".mplstyle"))


def _drawing_code() -> str:
    """SHA-256 of what draws a figure (`drawing_files` and matplotlib's version): figures drawn by other code
    are redrawn."""
    import matplotlib
    digest = hashlib.sha256(matplotlib.__version__.encode())
    for path in drawing_files():
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def draw_task(folder: Path, figures_dir: Path, prefix: str, names: list) -> dict:
    """Draw the figures `names` of one analysis; a task of `jobs.run_tasks`."""
    from ..figures import draw_figures
    return draw_figures(folder, figures_dir, prefix, names=names, progress=False, force=True)  # compare's own folder


def drawing_processes() -> int:
    """Processes that draw at once: one per core this process may use (matplotlib draws on one thread)."""
    return threads_per_job(1)


def _draw(todo: dict, figures_dir: Path, progress) -> dict:
    """Draw {model: (analysis folder, [figure names])}: each model's figures dealt out over `drawing_processes`
    tasks, which run at once; returns {model: {figure: [PDF, PNG]}} in the order of the names."""
    workers, tasks, owner = drawing_processes(), {}, {}
    for model, (folder, names) in todo.items():
        for k in range(min(workers, len(names))):
            task = f"{model_slug(model)} {k + 1}"
            owner[task] = model
            tasks[task] = (draw_task, (folder, figures_dir, f"{model_slug(model)}-", names[k::workers]))
    done = run_tasks(tasks, min(workers, len(tasks)) or 1, "draw", progress, threads=1)
    parts = {model: {} for model in todo}
    for task, result in done.items():
        parts[owner[task]].update(result)
    return {model: {name: parts[model][name] for name in names} for model, (_, names) in todo.items()}


def draw_models(folders: dict, figures_dir: Path, state: dict, progress=None, log=print, only=None) -> dict:
    """Draw each model's figures (those of `only` that its analysis holds data for; default all it holds) into
    `figures_dir`, unless the same analysis was drawn there by the same code: then only the figures with a file
    missing are redrawn. Returns {model: {figure: [PDF, PNG]}}."""
    from ..figures import applicable
    drawn, code, todo, keys = {}, _drawing_code(), {}, {}
    for model, folder in folders.items():
        keys[model] = {"analysis": state.get("analysis", {}).get(model), "code": code,
                       "folder": str(figures_dir.resolve()), "only": None if only is None else sorted(only)}
        previous = state.get("figures", {}).get(model, {})
        files = previous.get("files", {}) if keys[model]["analysis"] and previous.get("key") == keys[model] else {}
        missing = [name for name, paths in files.items() if not all(Path(p).is_file() for p in paths)]
        if files and not missing:
            log(f"figures of {model}: reused in {figures_dir}")
        elif files:
            log(f"figures of {model}: {', '.join(missing)} redrawn (files missing), the others reused")
        drawn[model] = {name: [Path(p) for p in paths] for name, paths in files.items()}
        if not files or missing:
            todo[model] = (folder, missing or [name for name in applicable(folder) if only is None or name in only])
    for model, new in _draw(todo, figures_dir, progress).items():
        drawn[model].update(new)
    for model in folders:
        state.setdefault("figures", {})[model] = {"key": keys[model], "files": {name: [str(p) for p in paths]
                                                                                for name, paths in drawn[model].items()}}
    return drawn


def _summary(function) -> str:
    """A figure function's docstring as one line: what the figure shows."""
    return " ".join((function.__doc__ or "").split())


def _manifest(options: CompareOptions, figures: dict, command: str, figures_dir: Path) -> dict:
    from ..figures import DRAW
    from ..figures.style import read_captions
    commit, captions = _commit(), read_captions(figures_dir)
    return {"command": command, "dataset": options.dataset, "seeds": list(range(options.seeds)),
            "epochs": {model: options.epochs_of(model) for model in options.models},
            "version": __version__, "commit": commit,
            "files": {path.name: {"figure": name, "model": model, "shows": _summary(DRAW[name]),
                                  "caption": captions.get(path.stem, ""),
                                  "command": command, "dataset": options.dataset,
                                  "seeds": list(range(options.seeds)), "version": __version__, "commit": commit}
                      for model, drawn in figures.items() for name, paths in drawn.items() for path in paths}}


def _analysis_sections(folders: dict, written) -> dict:
    """{section: seconds} summed over the analyses written in this call (each records its sections)."""
    sections = {}
    for model in written:
        recorded = json.loads((folders[model] / RESULTS).read_text())["provenance"].get("seconds", {})
        for name, value in recorded.items():
            if name != "total":
                sections[name] = round(sections.get(name, 0.0) + value, 3)
    return sections


def stage_line(seconds: dict) -> str:
    """compare's stage times as one line: its own stages, with the analysis sections inside "analysis"."""
    sections = seconds.get("analysis sections", {})
    inner = f" ({', '.join(f'{k} {v:.1f}' for k, v in sections.items())})" if sections else ""
    own = [f"{name} {value:.1f} s{inner if name == 'analysis' else ''}" for name, value in seconds.items()
           if name not in ("total", "analysis sections")]
    return f"compare stage times: {', '.join(own)}; total {seconds['total']:.1f} s"


def compare(out, options: CompareOptions | None = None, figures_dir=None, runs_dir=None, progress=None, log=print,
            command: str | None = None) -> dict:
    """Train into `runs_dir` (default OUT/runs), analyse into OUT/analysis and draw into `figures_dir`
    (default OUT/figures); returns {"runs": {model: [dirs]}, "analysis": {model: dir}, "figures": [paths],
    "table": md path, "seconds": total, "stages": {stage: seconds}}; the stage times are also recorded in
    OUT/compare.json ("seconds") and `stage_line` prints them."""
    times = StageTimes()
    options = (options or CompareOptions()).resolved()
    out = Path(out)
    figures_dir = Path(figures_dir) if figures_dir is not None else out / "figures"
    runs_dir = Path(runs_dir) if runs_dir is not None else out / "runs"
    if figures_dir != out / "figures":  # OUT itself is guarded by _prepare
        check_figures_folder(figures_dir)
    state = _prepare(out)
    for folder in (figures_dir, runs_dir):
        check_folder(folder)
        make_writable_folder(folder)
    state["options"] = asdict(options)
    atomic_write(out / MARKER, json.dumps(state, indent=2) + "\n")
    with times.stage("training"):
        runs = train_runs(options, runs_dir, progress, log)
    with times.stage("analysis"):
        folders, written = analyse_models(options, runs, out, state, progress, log)
    with times.stage("drawing"):
        drawn = draw_models(folders, figures_dir, state, progress, log, options.only)
    with times.stage("tables and manifest"):
        paths = _write_tables(options, runs, runs_dir, folders, drawn, figures_dir,
                              command or f"compare({str(out)!r}, {options!r})")
    log(f"{len(paths)} figure files in {figures_dir}")
    state["seconds"] = {**times.record(), "analysis sections": _analysis_sections(folders, written)}
    atomic_write(out / MARKER, json.dumps(state, indent=2) + "\n")
    return {"runs": runs, "analysis": folders, "figures": paths, "table": figures_dir / "accuracy.md",
            "seconds": state["seconds"]["total"], "stages": state["seconds"]}


def _write_tables(options: CompareOptions, runs: dict, runs_dir: Path, folders: dict, drawn: dict, figures_dir: Path,
                  command: str) -> list[Path]:
    """The stats beside the figures, the accuracy table and the manifest; returns the figure paths."""
    for model, folder in folders.items():  # the intervals, tests and costs beside the figures they belong to
        for name in (STATS, COST):
            atomic_write(figures_dir / f"{model_slug(model)}-{name}", (folder / name).read_bytes())
    names = {d.name for dirs in runs.values() for d in dirs}
    write_table(table(runs_dir, names), figures_dir, name="accuracy")
    atomic_write(figures_dir / "manifest.json", json.dumps(_manifest(options, drawn, command, figures_dir), indent=2) + "\n")
    return [p for model in drawn.values() for ps in model.values() for p in ps]
