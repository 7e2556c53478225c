"""scratchnet.figures: every op ``explain`` covers draws, from the op's own numbers.

The figures are pictures, so these tests check what a picture cannot show wrong
without the test noticing: the numbers they draw are the ops' (the 1-2-4 overlap
grid is col2im's, the Jacobian is softmax's backward, the GEMM's dimensions are the
basic CNN's, the C3 grid is the model's table), every op of ``scratchnet explain``
has a picture, ``--plot`` writes it and refuses what it cannot draw with one line,
and importing the package loads neither matplotlib nor torch.
"""
import subprocess
import sys

import numpy as np
import pytest

from scratchnet import cli, figures
from scratchnet.explain import OPS as EXPLAIN_OPS
from scratchnet.figures import conv, models, pooling, softmax
from scratchnet.functional import conv as fconv

from helpers import EXPLAIN_CASES

PNG = b"\x89PNG\r\n\x1a\n"

#: explain's cases, and the lectures' smallest conv (1x1x4x4 input, 2x2 kernel).
CASES = EXPLAIN_CASES + [("conv2d", dict(input=(1, 1, 4, 4), weight=(1, 1, 2, 2)))]


def test_every_explained_op_has_a_figure():
    assert set(figures.OPS) == set(EXPLAIN_OPS)
    assert {op for op, _ in CASES} == set(EXPLAIN_OPS)


@pytest.mark.parametrize("op,options", CASES)
def test_draw_op_writes_a_picture(op, options, tmp_path):
    path = tmp_path / f"{op}.png"
    assert figures.draw_op(op, path, **options) == str(path)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


# A strided conv, the ceil-mode max pool, a summed cross-entropy with an ignored target.
@pytest.mark.parametrize("op,options", [CASES[0], CASES[4], CASES[13]])
def test_explain_plot_writes_the_picture(op, options, tmp_path, capsys):
    path = tmp_path / "op.svg"
    argv = ["explain", op]
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            argv += [flag] if v else []
        else:
            argv += [flag, ",".join(map(str, np.atleast_1d(v)))]
    assert cli.main(argv + ["--plot", str(path)]) == 0
    assert path.read_text().lstrip().startswith("<?xml")
    assert f"wrote {path}" in capsys.readouterr().out


@pytest.mark.parametrize("argv,words", [
    (["conv2d", "--input", "1,1,64,64", "--weight", "1,1,3,3"], "too large to draw"),
    (["max_pool2d", "--input", "1,1,40,40", "--kernel", "2"], "too large to draw"),
    (["softmax", "--input", "2,50"], "too large to draw"),
])
def test_explain_plot_refuses_what_it_cannot_draw(argv, words, tmp_path, capsys):
    assert cli.main(["explain"] + argv + ["--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plot" in err[0] and words in err[0], err
    assert not (tmp_path / "x.png").exists()


def test_explain_plot_into_a_missing_directory_fails_before_running(tmp_path, capsys):
    assert cli.main(["explain", "max_pool2d", "--input", "1,1,4,4", "--kernel", "2",
                     "--plot", str(tmp_path / "nowhere" / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "directory does not exist" in captured.err


def test_draw_op_rejects_what_the_op_rejects(tmp_path):
    with pytest.raises(ValueError, match="conv2d"):
        figures.draw_op("conv2d", tmp_path / "x.png", input=(1, 3, 5, 5), weight=(2, 2, 3, 3))
    with pytest.raises(ValueError, match="no figure for op 'relu'"):
        figures.draw_op("relu", tmp_path / "x.png", input=(3,))


def test_col2im_counts_are_the_lectures_1_2_4_grid():
    x = np.zeros((1, 1, 3, 3))
    x4, _, _, _, geo = fconv._setup("conv2d", x, np.zeros((1, 1, 2, 2)), None, 1, 0, 1, 1)
    cols = fconv.im2col(x4, geo)
    counts = fconv.col2im(np.ones_like(cols), geo, x4.shape)[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_softmax_jacobian_is_diag_s_minus_s_s_transpose():
    s, jac = softmax.jacobian(softmax.LOGITS)
    e = np.exp(softmax.LOGITS - softmax.LOGITS.max())
    p = e / e.sum()
    np.testing.assert_allclose(s, p, rtol=1e-15)
    np.testing.assert_allclose(jac, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-16)


def test_the_basic_cnn_conv2_gemm_is_250_by_4096_at_batch_64():
    dims = conv.gemm_shapes((64, 10, 12, 12), (20, 10, 5, 5))
    assert (dims["O"], dims["K"], dims["M"]) == (20, 250, 4096)


def test_the_c3_grid_is_the_models_table():
    from scratchnet.models import LECUN_C3_TABLE

    table, model = models.c3_table()
    assert table == tuple(tuple(t) for t in LECUN_C3_TABLE)
    assert sum(p.data.size for p in model.c3.parameters()) == 1516


def test_the_lecture_pool_routes_to_its_argmax():
    from scratchnet.functional import max_pool2d, vjp

    (out, idx), backward = vjp(max_pool2d, pooling.LECTURE_INPUT[None, None], 2, None, 0, 1,
                               False, True)
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(idx[0, 0], [[5, 7], [8, 15]])
    (tie, tie_idx), _ = vjp(max_pool2d, pooling.TIE_INPUT[None, None], 2, None, 0, 1, False, True)
    np.testing.assert_array_equal(tie_idx[0, 0], [[0, 2]])  # the first maximum, as torch


@pytest.mark.parametrize("name", sorted(figures.SITE_FIGURES))
def test_every_site_figure_draws(name, tmp_path):
    path = tmp_path / f"{name}.png"
    figures.draw_site_figure(name, path)
    assert path.read_bytes().startswith(PNG)


def test_importing_figures_loads_neither_matplotlib_nor_torch():
    code = ("import sys, scratchnet.figures, scratchnet.explain; "
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__('pathlib').Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
