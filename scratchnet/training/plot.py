"""Loss and accuracy curves of one or two engines' runs, overlaid, as a PNG."""
from __future__ import annotations


def plot_runs(results, path: str, title: str = "") -> None:
    """Write a two-panel PNG: losses per epoch (train solid, test dashed) and test accuracy.

    Parameters
    ----------
    results : list of scratchnet.training.loop.RunResult
    path : str
        Output file (PNG).
    title : str, optional
        The figure's title (default: the model and the data).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    # NumPy wide and pale, torch thin on top: where the engines agree, both stay visible.
    styles = {"numpy": dict(color="tab:blue", linewidth=3.5, alpha=0.55, marker="o", markersize=6),
              "torch": dict(color="tab:orange", linewidth=1.3, marker="x", markersize=5)}
    for r in results:
        ep = [e.epoch for e in r.epochs]
        st = dict(styles.get(r.engine, {}))
        if len(ep) > 40:  # markers only where epochs can be told apart
            st.pop("marker", None)
        ax_loss.plot(ep, [e.train_loss for e in r.epochs], label=f"{r.engine} train", **st)
        ax_loss.plot(ep, [e.test_loss for e in r.epochs], linestyle="--", label=f"{r.engine} test", **st)
        ax_acc.plot(ep, [100 * e.test_accuracy for e in r.epochs], label=f"{r.engine} ({r.device})", **st)
    if results:
        fig.suptitle(title or f"{results[0].model} on {results[0].dataset}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (train solid, test dashed)")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
