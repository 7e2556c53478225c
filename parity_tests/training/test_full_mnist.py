"""Full MNIST (60,000 / 10,000), when its files are found through SCRATCHNET_DATA.

CI sets SCRATCHNET_DATA to the build machines' copy; elsewhere these tests skip.
"""
import numpy as np
import pytest

from scratchnet.training import experiments
from scratchnet.data import binary_subset, load_dataset, load_mnist
from scratchnet.training.torch_engine import TorchEngine
from scratchnet.training.lockstep import compare, fit_lockstep
from scratchnet.training.numpy_engine import NumpyEngine
from scratchnet.training.loop import TrainConfig

# The published label counts of MNIST's training and test sets, digits 0..9.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(full_mnist_dir):
    return load_mnist(full_mnist_dir)


def test_loader_on_the_real_files(mnist):
    (x, y), (tx, ty) = mnist.train.arrays, mnist.test.arrays
    assert mnist.source == "mnist-full"
    assert x.shape == (60000, 1, 28, 28) and tx.shape == (10000, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 == x.min() and x.max() == 1.0  # ToTensor's scaling of 0..255
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(ty, minlength=10).tolist() == TEST_COUNTS
    assert abs(float(x.mean()) - 0.1307) < 1e-3  # the mean every MNIST normalisation quotes


def test_four_versus_nine_test_subset(mnist, full_mnist_dir):
    test = binary_subset(mnist.test)
    xs, ys = test.arrays
    assert len(ys) == 1991 == TEST_COUNTS[4] + TEST_COUNTS[9]  # the lecture's 1894/1991
    assert sorted(np.unique(ys).tolist()) == [-1, 1]
    assert int((ys == -1).sum()) == TEST_COUNTS[4]
    via_name = load_dataset("mnist-4v9", full_mnist_dir)
    assert len(via_name.test.arrays[1]) == 1991


def test_lockstep_softmax_regression_epoch_matches_the_slide(mnist):
    """One lockstep epoch of the lecture's softmax regression on all 60,000 digits.

    The slide's cost after epoch 1 is 0.535; both engines must land there, together.
    """
    exp = experiments.get("softmax-regression")
    cfg = TrainConfig(model=exp.model, lr=exp.lr, momentum=exp.momentum, batch_size=exp.batch_size,
                      drop_last=exp.drop_last, seed=exp.seed, epochs=1, log_interval=0)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict())
    ra, rb = fit_lockstep([a, b], mnist.train.arrays, mnist.test.arrays, cfg, log=lambda s: None,
                          progress=False)
    assert ra.lockstep and rb.lockstep
    c = compare(ra, rb)
    assert c["epochs"][0]["train_loss_rel_diff"] < 1e-5
    assert abs(ra.epochs[0].test_accuracy - rb.epochs[0].test_accuracy) <= 2e-4
    assert ra.epochs[0].train_loss == pytest.approx(0.535, abs=0.01)
    assert ra.epochs[0].test_accuracy > 0.88
