"""The figures the chapters show, one function each. Every function returns the matplotlib
Axes (or Figure) it drew on, so a chapter can add to it.

Figures are sized for the book's text column (about 690 px, :data:`COLUMN_WIDTH` inches at
100 dpi), so that they are shown at their natural size on a desktop and their smallest text
(10.5 pt, about 15 px) is at least as large as the page's small print. :func:`use_book_style`
sets these defaults; :func:`psl.setup_chapter` calls it.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .unlearning import colors as _method_colors, labels as _method_labels


COLUMN_WIDTH = 6.9     # inches: the text column of the HTML book at 100 dpi (about 690 px)
BOOK_STYLE = {
    "figure.figsize": (6.0, 3.6), "figure.dpi": 100, "savefig.dpi": 100,
    "figure.facecolor": "white", "savefig.facecolor": "white",   # readable in dark mode too
    "font.size": 11.0, "axes.titlesize": 11.5, "axes.labelsize": 11.0, "figure.titlesize": 12.0,
    "xtick.labelsize": 10.5, "ytick.labelsize": 10.5, "legend.fontsize": 10.5,
    "legend.title_fontsize": 10.5,
}


def use_book_style() -> None:
    """Matplotlib defaults for figures that fit the book's column (figure size, 100 dpi, fonts
    of at least 10.5 pt, white background). Called by ``psl.setup_chapter``."""
    plt.rcParams.update(BOOK_STYLE)


EXTRA_LABELS = {"noise_floor": "Retrain vs retrain (chance)"}   # the audit's chance group


def _label(method: str) -> str:
    """A method's label from the registry (the audit's chance group, or the name itself, else)."""
    return _method_labels().get(method, EXTRA_LABELS.get(method, method))


def method_color(method: str, default: str = "#aaaaaa") -> str:
    """A method's colour from the registry (``default`` for anything else)."""
    return _method_colors().get(method, default)


def _values(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``method``, ``mean`` and ``err`` (the 95% half-width, NaN without one) of ``metric``:
    from the summary schema (``experiment.summarize``: one row per method and metric), or from
    a plain table with one row per method and a ``metric`` column (no interval)."""
    if "metric" in summary:
        rows = summary[summary["metric"] == metric]
        return pd.DataFrame({"method": rows["method"].to_numpy(), "mean": rows["mean"].to_numpy(),
                             "err": (rows["mean"] - rows["ci_low"]).to_numpy()})
    return pd.DataFrame({"method": summary["method"].to_numpy(),
                         "mean": summary[metric].to_numpy(), "err": np.nan})


def age_scatter(data, ax=None, max_subjects: Optional[int] = None):
    """Each subject's image ages against the subject's index (chapter 03-agedb).

    Subjects are ordered by their mean age, so the plot shows both the spread of ages across
    subjects and the span of each subject's life that the photos cover.
    """
    ax = ax or plt.subplots(figsize=(COLUMN_WIDTH, 3.8))[1]
    frame = pd.DataFrame({"identity": data.identities, "age": data.ages})
    order = frame.groupby("identity")["age"].mean().sort_values()
    if max_subjects is not None:
        order = order.iloc[np.linspace(0, len(order) - 1, max_subjects).astype(int)]
    rank = {identity: i for i, identity in enumerate(order.index)}
    frame = frame[frame.identity.isin(rank)]
    ax.scatter(frame.identity.map(rank), frame.age, s=3, alpha=0.4, color="#1f77b4",
               label="one image")
    ax.plot(np.arange(len(order)), order.values, color="#d62728", lw=1.5,
            label="subject's mean age")
    ax.set_xlabel("subject (ordered by mean age)")
    ax.set_ylabel("age (years)")
    ax.legend(loc="upper left", markerscale=3)
    return ax


def image_grid(data, indices: Optional[Sequence[int]] = None, n: int = 12, seed: int = 0,
               columns: int = 4):
    """A grid of images, each captioned with the subject's name and age (chapter 03-agedb).

    At most four columns fit the book's column with readable captions."""
    if indices is None:
        indices = np.random.default_rng(seed).choice(len(data), size=min(n, len(data)),
                                                     replace=False)
    indices = list(indices)
    rows = int(np.ceil(len(indices) / columns))
    panel = min(1.7, COLUMN_WIDTH / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel * columns, (panel + 0.5) * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        ax.imshow(data.images[i].permute(1, 2, 0).numpy())
        ax.set_title(f"{data.names[i]}\nage {data.ages[i]}", fontsize=10.5)
    fig.tight_layout()
    return fig


def age_histogram(ages, ranges: Sequence[Sequence[int]] = (), ax=None, width: int = 2):
    """Histogram of ages (bins of ``width`` years, aligned to whole ages) with forget ranges
    shaded (chapter 03-agedb)."""
    ax = ax or plt.subplots(figsize=(COLUMN_WIDTH, 3.4))[1]
    edges = np.arange(-0.5, int(np.max(ages)) + width + 0.5, width)
    ax.hist(ages, bins=edges, color="#1f77b4", alpha=0.8)
    for (lo, hi), color in zip(ranges, ("#d62728", "#ff7f0e", "#2ca02c")):
        ax.axvspan(lo - 0.5, hi + 0.5, color=color, alpha=0.15, label=f"forget ages {lo}-{hi}")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("images")
    if ranges:
        ax.legend()
    return ax


def learning_curve(history: Sequence[Mapping], ax=None, label: str = "training"):
    """Training loss (and validation MAE, when recorded) per epoch (chapter 04)."""
    ax = ax or plt.subplots(figsize=(6.0, 3.5))[1]
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label=f"{label}: train L1 loss")
    if history and "val_mae" in history[0]:
        ax.plot(epochs, [h["val_mae"] for h in history], marker="s", label=f"{label}: validation MAE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("years")
    ax.legend()
    return ax


def predicted_vs_true(ages, predictions, ax=None, title: str = "", highlight=None):
    """Predicted against true age, with the identity line (chapters 04-05)."""
    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    ages = np.asarray(ages)
    predictions = np.asarray(predictions)
    ax.scatter(ages, predictions, s=4, alpha=0.35, color="#1f77b4")
    if highlight is not None:
        lo, hi = highlight
        mask = (ages >= lo) & (ages <= hi)
        ax.scatter(ages[mask], predictions[mask], s=4, alpha=0.5, color="#d62728",
                   label=f"ages {lo}-{hi}")
        ax.legend(loc="upper left")
    top = max(101, float(np.nanmax(predictions)) if len(predictions) else 101)
    ax.plot([0, top], [0, top], color="black", lw=1, ls="--")
    ax.set_xlabel("true age")
    ax.set_ylabel("predicted age")
    ax.set_title(title)
    return ax


def output_distributions(predictions: Mapping[str, np.ndarray], reference: str = "retrain",
                         ax=None, title: str = "Predictions on the forget set D_f"):
    """Density of each model's predictions on D_f, the retrained model's drawn thick (chapter 08)."""
    ax = ax or plt.subplots(figsize=(COLUMN_WIDTH, 3.8))[1]
    for method, preds in predictions.items():
        preds = np.asarray(preds, dtype=float)
        style = {"lw": 3, "ls": "-"} if method == reference else {"lw": 1.6, "ls": "--"}
        if np.std(preds) < 1e-6:
            ax.axvline(preds.mean(), color=method_color(method, None), label=_label(method),
                       **style)
            continue
        sns.kdeplot(x=preds, ax=ax, color=method_color(method, None), label=_label(method),
                    **style)
    ax.set_xlabel("predicted age")
    ax.set_title(title)
    ax.legend()
    return ax


def w1_bars(summary: pd.DataFrame, noise_floor: Optional[float] = None, ax=None,
            title: str = "W1 to the retrained model on D_f"):
    """W1 per method with 95% intervals, the retrain-vs-retrain noise floor as a line
    (chapter 08). ``summary``: ``experiment.summarize``'s table, or one row per method with a
    ``w1_to_retrain`` column; the reference (no W1 of its own) and the floor row are left out."""
    ax = ax or plt.subplots(figsize=(COLUMN_WIDTH, 3.5))[1]
    rows = _values(summary, "w1_to_retrain")
    rows = rows[(rows.method != "noise_floor") & rows["mean"].notna()]
    x = np.arange(len(rows))
    err = rows["err"] if rows["err"].notna().any() else None
    ax.bar(x, rows["mean"], yerr=err, capsize=4, color=[method_color(m) for m in rows.method])
    ax.set_xticks(x, [_label(m) for m in rows.method], rotation=15)
    if noise_floor is not None and np.isfinite(noise_floor):
        ax.axhline(noise_floor, color="black", ls=":", lw=1.5,
                   label=f"noise floor (retrain vs retrain) = {noise_floor:.2f}")
        ax.legend()
    ax.set_ylabel("W1 (years)")
    ax.set_title(title)
    return ax


def mae_bars(summary: pd.DataFrame, ax=None, columns: Sequence[str] = ("retain_mae", "forget_mae"),
             title: str = "Error on the retain and forget sets"):
    """Grouped bars of MAE per method with 95% intervals (chapter 08); ``summary`` as for
    :func:`w1_bars`, ``columns`` the MAE metrics to draw."""
    ax = ax or plt.subplots(figsize=(COLUMN_WIDTH, 3.5))[1]
    width = 0.8 / len(columns)
    methods = list(dict.fromkeys(_values(summary, columns[0]).method))
    x = np.arange(len(methods))
    for j, col in enumerate(columns):
        values = _values(summary, col).set_index("method").reindex(methods)
        err = values["err"] if values["err"].notna().any() else None
        ax.bar(x + (j - (len(columns) - 1) / 2) * width, values["mean"], width=width, yerr=err,
               capsize=3, label=col.replace("_", " ").replace("mae", "MAE"))
    ax.set_xticks(x, [_label(m) for m in methods], rotation=15)
    ax.set_ylabel("MAE (years)")
    ax.set_title(title)
    ax.legend()
    return ax


def attention_maps(maps: Dict[str, np.ndarray], size: int, title: str = "",
                   columns: Optional[int] = None):
    """Attention maps AT(a) in a grid, row by row (chapter 06-blindspot); at most four columns
    fit the book's column."""
    columns = min(len(maps), 4) if columns is None else int(columns)
    rows = int(np.ceil(len(maps) / columns))
    panel = min(1.7, COLUMN_WIDTH / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel * columns, (panel + 0.4) * rows + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, m) in zip(axes.flat, maps.items()):
        ax.imshow(np.asarray(m).reshape(size, size), cmap="magma")
        ax.set_title(name, fontsize=10.5)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def exposed_examples(per_example: pd.DataFrame, methods: Optional[Sequence[str]] = None,
                     title: str = "Which forget images stay exposed"):
    """One panel per method: each forget image at its true age (x) against the method's mean
    prediction minus the retrained models' mean prediction (y); images whose per-example test
    rejects "same as retraining" after Benjamini-Hochberg are drawn in red (chapter 09;
    ``per_example`` is ``audit.run_audit``'s second table)."""
    methods = list(dict.fromkeys(per_example["method"])) if methods is None else list(methods)
    columns = min(3, len(methods))                 # at most three panels side by side: the
    rows = -(-len(methods) // columns)             # figure keeps the book's column width
    fig, axes = plt.subplots(rows, columns, figsize=(COLUMN_WIDTH, 2.7 * rows + 0.6),
                             squeeze=False, sharey=True)
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    for ax, method in zip(axes.flat, methods):
        rows = per_example[per_example["method"] == method]
        exposed = rows["exposed"].to_numpy(bool)
        ax.scatter(rows["age"][~exposed], rows["diff"][~exposed], s=8, alpha=0.5,
                   color="#7f7f7f", label="like retraining")
        ax.scatter(rows["age"][exposed], rows["diff"][exposed], s=10, alpha=0.8,
                   color="#d62728", label="exposed")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{_label(method)}: {exposed.sum()} of {len(rows)}", fontsize=10)
        ax.set_xlabel("true age")
    axes.flat[0].set_ylabel("mean prediction − retrained mean (years)")
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# Column titles, with units, for showing a tidy results table (psl.experiment) to a reader.
COLUMN_TITLES = {
    "range": "forget ages", "method": "method", "seed": "seed",
    "retain_mae": "MAE on D_r (years)", "forget_mae": "MAE on D_f (years)",
    "test_retain_mae": "MAE, test retain (years)", "test_forget_mae": "MAE, test forget (years)",
    "w1_to_retrain": "W1 to retrain on D_f (years)", "w1_over_floor": "W1 / noise floor",
    "w1_over_original": "W1 / W1 of original", "mia_forget": "member rate on D_f",
    "mia_auc": "attack AUC", "seconds": "wall time (s)",
    "seconds_over_retrain": "wall time / retraining",
}


def readable_table(frame: pd.DataFrame, columns: Optional[Sequence[str]] = None,
                   digits: int = 2) -> pd.DataFrame:
    """A copy of a tidy results table for reading (chapter 08): method names spelled out,
    columns titled with their units (:data:`COLUMN_TITLES`), numbers rounded. The tidy frame
    stays as it is, for code."""
    columns = list(frame.columns) if columns is None else list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"readable_table: no column {missing[0]!r} in the table; it has "
                         f"{', '.join(map(str, frame.columns))}")
    shown = frame[columns].copy()
    if "method" in shown:
        shown["method"] = shown["method"].map(_label)
    numeric = shown.select_dtypes("number").columns
    shown[numeric] = shown[numeric].round(digits)
    return shown.rename(columns=COLUMN_TITLES)
