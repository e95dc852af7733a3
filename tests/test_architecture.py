"""What the schematic draws, read from the networks themselves: blocks with their weight shapes and each rule's
feedback pathway (BP: Wᵀ; FA: a B per weight layer shaped as W; DFA family: a B per hidden block from the
output error; the readout control: none)."""

from torch import nn

from bioplaus_analysis.architecture import architecture
from bioplaus_analysis.foreign import Foreign
from trainers import build_model


def _arch(rule):
    return architecture(build_model("cnn", rule, (1, 8, 8), 10, seed=0))


def test_blocks_and_weight_shapes_are_the_networks():
    model = build_model("cnn", "bp", (1, 8, 8), 10, seed=0)
    arch = architecture(model)
    assert [block for block, _ in arch["blocks"]] == list(model.blocks)
    assert arch["blocks"][0] == ["conv1", [["conv1", list(model.weight_layers()["conv1"].weight.shape)]]]
    assert arch["input"] == [1, 8, 8] and arch["classes"] == 10
    assert arch["feedback"] == {"kind": "transpose", "learned": False, "matrices": {}, "symbol": "B",
                                "through": "a B per layer"}


def test_each_rules_feedback_pathway():
    layers = build_model("cnn", "fa", (1, 8, 8), 10, seed=0).weight_layers()
    fa = _arch("fa")["feedback"]
    assert fa["kind"] == "layer" and fa["matrices"] == {name: list(layers[name].weight.shape)
                                                       for name in ("conv2", "fc1", "out")}  # conv1 reads the image
    dfa, dkp = _arch("dfa")["feedback"], _arch("dkp")["feedback"]
    assert dfa["kind"] == dkp["kind"] == "direct" and list(dfa["matrices"]) == ["conv1", "conv2", "fc1"]
    assert all(shape[-1] == 10 for shape in dfa["matrices"].values())  # from the 10 output errors
    assert (dfa["learned"], dkp["learned"]) == (False, True)
    assert _arch("readout")["feedback"]["kind"] == "none"
    usf, brsf = _arch("usf")["feedback"], _arch("brsf")["feedback"]  # sign symmetry: sign(W) with its magnitudes
    assert usf["kind"] == brsf["kind"] == "layer" and usf["symbol"] == "sign(W)·s" and brsf["symbol"] == "sign(W)∘|R|" and "redrawn" in brsf["through"]


def test_a_network_trained_elsewhere_has_no_schematic():
    assert architecture(Foreign(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), layers=["1"])) is None


def test_the_schematic_names_each_rules_pathway_and_wraps_many_rules(tmp_path):
    """Nine rules: two rows of at most five networks, each pathway in its own words in the caption."""
    import json

    from PIL import Image

    from bioplaus_analysis.figures import draw_figures
    from bioplaus_analysis.results import Analysis
    rules = ["bp", "fa", "dfa", "dkp", "usf", "frsf", "brsf", "kp", "readout"]
    results = {"runs": {r: {"model": "cnn", "rule": r, "seed": 0} for r in rules},
               "architecture": {r: _arch(r) for r in rules}}
    (paths,) = draw_figures(Analysis(results, {}), tmp_path, names=["schematic"], progress=False).values()
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    caption = json.loads((tmp_path / "captions.json").read_text())["schematic"]
    assert "uSF, sign(W)·s per layer" in caption and "brSF, sign(W)∘|R| per layer, R redrawn every batch" in caption
    assert "KP, a B per layer, learned" in caption and "DFA; DKP, learned." in caption
    assert "Readout: none" in caption
    width, height = Image.open(paths[1]).size
    assert height > width * 0.8  # two rows of networks, not nine squeezed into one


def test_adfa_is_drawn_and_captioned_apart_from_dfa(tmp_path):
    """aDFA's B is DFA's; what differs is g(I − θ) in place of the spike derivative, which the schematic says."""
    import json

    from bioplaus_analysis.figures import draw_figures
    from bioplaus_analysis.results import Analysis
    rules = ["dfa", "adfa"]
    arch = {r: architecture(build_model("snn", r, (1, 8, 8), 10, seed=0, hidden="16"))
            for r in rules}
    assert arch["adfa"]["feedback"]["kind"] == arch["dfa"]["feedback"]["kind"] == "direct"
    results = {"runs": {r: {"model": "snn", "rule": r, "seed": 0} for r in rules}, "architecture": arch}
    draw_figures(Analysis(results, {}), tmp_path, names=["schematic"], progress=False)
    caption = json.loads((tmp_path / "captions.json").read_text())["schematic"]
    assert "DFA; aDFA, B, times g(I − θ) for the spike derivative." in caption


def test_a_direct_pathway_runs_from_the_output_box_to_each_hidden_blocks_box():
    """The arcs start at the output block's box and end at each hidden block's, with their B shape below the
    arrowhead (drawn in axes fractions they had started in empty space and stopped short)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.schematic import _boxes, _feedback
    arch = _arch("dfa")
    fig, ax = plt.subplots()
    heights, boxes = _boxes(ax, arch)
    _feedback(ax, arch, heights, boxes, "blue")
    arcs = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None and t.arrowprops.get("color") == "blue"]
    blocks = [block for block, _ in arch["blocks"]]
    assert [boxes.index(arc.xycoords) for arc in arcs] == [1, 2, 3] and all(arc.anncoords is boxes[-1] for arc in arcs)
    labels = [t.get_text() for t in ax.texts if getattr(t, "arrow_patch", None) is None and t.get_text().startswith("B ")]
    assert labels == [f"B {'×'.join(map(str, arch['feedback']['matrices'][b]))}" for b in blocks[:-1]]
    plt.close(fig)
