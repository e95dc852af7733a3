"""The README's Python examples run as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_example(marker, tmp_path, monkeypatch, capsys) -> str:
    """Execute the first README python block containing `marker` in `tmp_path`; return what it printed."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S) if marker in b]
    assert blocks, f"the README has no Python example using {marker}"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    return capsys.readouterr().out


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    printed = _run_example("block_cosines(", tmp_path, monkeypatch, capsys)
    assert (tmp_path / "runs/example-dfa/model.pt").is_file()
    assert "'out': 1.0" in printed or "'out': 0.99999" in printed


def test_readme_snn_example_runs(tmp_path, monkeypatch, capsys):
    printed = _run_example("model.record", tmp_path, monkeypatch, capsys)
    assert "torch.Size([100, 200]) torch.Size([25, 100, 200])" in printed and "'fc1'" in printed


def test_readme_analysis_example_runs(tmp_path, monkeypatch, capsys):
    _run_example("block_cosines(", tmp_path, monkeypatch, capsys)  # trains runs/example-dfa
    printed = _run_example("gradient_snr(", tmp_path, monkeypatch, capsys)
    lines = printed.splitlines()
    assert lines[0].startswith("{'conv1': ")
    assert abs(float(re.search(r"'mean': ([-0-9.e]+)", lines[1]).group(1)) - 1.0) < 1e-5
    true, feedback = (float(line.split()[1]) for line in lines[2:4])
    assert lines[2].startswith("true") and true <= feedback


def test_readme_compare_example_runs(tmp_path, monkeypatch, capsys):
    printed = _run_example("CompareOptions(", tmp_path, monkeypatch, capsys)
    assert printed.splitlines()[-1] == "['cnn-bias-variance.pdf', 'cnn-bias-variance.png']"
    assert sorted(p.name for p in (tmp_path / "runs/restyled").iterdir()) == [
        "captions.json", "captions.md", "cnn-robustness.pdf", "cnn-robustness.png"]


def test_readme_features_and_tables_example_runs(tmp_path, monkeypatch, capsys):
    _run_example("block_cosines(", tmp_path, monkeypatch, capsys)  # trains runs/example-dfa
    printed = _run_example("robustness.csv", tmp_path, monkeypatch, capsys)
    lines = printed.splitlines()
    assert lines[0] == "{'input': (100, 64), 'conv1': (100, 1152), 'conv2': (100, 128), 'fc1': (100, 128), 'out': (100, 10)}"
    assert lines[1].split() == ["rule", "attack", "mode", "eps"] and lines[2].split()[:4] == ["dfa", "fgsm", "feedback", "0.0"]
    assert len(lines) == 2 + 2 * 2 * 2 + 1  # header, 2 attacks x 2 modes x 2 eps, pandas' Name line
    assert (tmp_path / "analysis/example/robustness.csv").is_file()


def test_readme_wrap_example_trains_a_residual_network_with_dfa(tmp_path, monkeypatch, capsys):
    printed = _run_example("wrap(net", tmp_path, monkeypatch, capsys)
    assert float(printed.split()[-1]) > 0.5  # chance is 0.1


def test_readme_factory_example_trains_and_reloads_in_a_new_process(tmp_path, monkeypatch, capsys):
    factory = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
                   if b.startswith("# mynets.py"))
    (tmp_path / "mynets.py").write_text(factory)
    printed = _run_example("mynets:small_cnn", tmp_path, monkeypatch, capsys)
    assert printed.splitlines()[-1].startswith("['conv', 'pool', 'fc'] ")
    run = tmp_path / "runs/example-own-fa"
    summary = subprocess.run([sys.executable, "-m", "bioplaus_analysis", "summary", str(run)], cwd=tmp_path,
                             capture_output=True, text=True)
    assert summary.returncode == 0 and "mynets:small_cnn" in summary.stdout, summary.stderr


def test_readme_example_analyses_a_model_trained_elsewhere(tmp_path, monkeypatch, capsys):
    lines = _run_example("layers=[\"2\"]", tmp_path, monkeypatch, capsys).splitlines()
    assert lines[0].startswith("['2', 'input', 'out'] ") and float(lines[0].split()[-1]) > 0.2
    clean, attacked = map(float, lines[1].split())
    assert clean > 0.8 and attacked < clean


def test_readme_networks_trained_elsewhere_go_from_weights_to_the_figure_set(tmp_path, monkeypatch, capsys):
    import pytest
    pytest.importorskip("snntorch")
    from bioplaus_analysis.figures import style
    monkeypatch.setattr(style, "PNG_DPI", 50)  # the same figures at a lower resolution: this test checks files
    lines = _run_example("analysis/snntorch", tmp_path, monkeypatch, capsys).splitlines()
    anns, snn = (set(eval(line.split(" ", 1)[1])) for line in lines[-2:])
    assert {"rdm-grid", "main-representations", "robustness", "transfer"} <= anns and not {"firing-rates", "gradient-snr"} & anns
    assert {"firing-rates", "spike-raster", "robustness"} <= snn
    figures = tmp_path / "figures/elsewhere"
    assert (figures / "snntorch-spike-raster.png").is_file() and (figures / "anns-rdm-grid.pdf").is_file()
    captions = (figures / "captions.md").read_text()
    assert "surrogate gradient of the spiking network" in captions and "true input gradient" in captions
