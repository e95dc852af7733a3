"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    cnn = [b for b in blocks if "block_cosines(" in b]
    assert cnn, "the README has no CNN Python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(cnn[0], "README.md", "exec"), {})
    assert (tmp_path / "runs/example-dfa/model.pt").is_file()
    printed = capsys.readouterr().out
    assert "'out': 1.0" in printed or "'out': 0.99999" in printed


def test_readme_snn_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    snn = [b for b in blocks if "model.record" in b]
    assert snn, "the README has no SNN example"
    monkeypatch.chdir(tmp_path)
    exec(compile(snn[0], "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "torch.Size([100, 200]) torch.Size([25, 100, 200])" in printed and "'fc1'" in printed
