"""Loss and accuracy curves of one or two engines' runs, overlaid, as a PNG."""
from __future__ import annotations


def plot_runs(results, path: str) -> None:
    """Write a two-panel PNG: losses per epoch (train solid, test dashed) and test accuracy.

    Parameters
    ----------
    results : list of scratchnet.train.RunResult
    path : str
        Output file (PNG).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"numpy": dict(color="tab:blue", marker="o"), "torch": dict(color="tab:orange", marker="x")}
    for r in results:
        ep = [e.epoch for e in r.epochs]
        st = styles.get(r.engine, {})
        ax_loss.plot(ep, [e.train_loss for e in r.epochs], label=f"{r.engine} train", **st)
        ax_loss.plot(ep, [e.test_loss for e in r.epochs], linestyle="--", label=f"{r.engine} test", **st)
        ax_acc.plot(ep, [100 * e.test_accuracy for e in r.epochs], label=f"{r.engine} ({r.device})", **st)
    title = f"{results[0].model} on {results[0].dataset}" if results else ""
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
