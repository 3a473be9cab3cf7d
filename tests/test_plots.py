"""Tests of the reader-facing helpers in pixelsecurer_lib.plots (figure style, readable tables)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pixelsecurer_lib import plots  # noqa: E402


def test_book_style_fits_the_column_and_keeps_text_readable():
    with plt.rc_context():
        plots.use_book_style()
        width, _ = plt.rcParams["figure.figsize"]
        assert width <= plots.COLUMN_WIDTH
        assert plt.rcParams["figure.dpi"] == 100
        # smallest text at least 10.5 pt (about 15 px at 100 dpi)
        for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "axes.labelsize"):
            assert float(plt.rcParams[key]) >= 10.5, key
        fig, ax = plt.subplots()
        assert fig.get_size_inches()[0] * fig.dpi <= 690 + 1
        plt.close(fig)


def test_figure_functions_draw_within_the_column():
    with plt.rc_context():
        plots.use_book_style()
        ax = plots.learning_curve([{"epoch": 1, "train_loss": 3.0}, {"epoch": 2, "train_loss": 2.0}])
        assert ax.figure.get_size_inches()[0] <= plots.COLUMN_WIDTH
        fig = plots.attention_maps({f"m{i}": [[0.0] * 4] * 4 for i in range(6)}, size=4)
        assert fig.get_size_inches()[0] <= plots.COLUMN_WIDTH
        plt.close("all")


def test_readable_table_titles_columns_and_names_methods():
    tidy = pd.DataFrame({"method": ["original", "blindspot"], "w1_to_retrain": [3.14159, 1.0],
                         "seconds": [10.0, 2.5]})
    shown = plots.readable_table(tidy, ["method", "w1_to_retrain"])
    assert list(shown.columns) == ["method", "W1 to retrain on D_f (years)"]
    assert list(shown["method"]) == ["Original", "Blindspot"]
    assert shown.iloc[0, 1] == 3.14
    assert list(tidy.columns) == ["method", "w1_to_retrain", "seconds"]   # the tidy frame is kept


def test_readable_table_names_a_missing_column():
    with pytest.raises(ValueError, match="w1_over_floor"):
        plots.readable_table(pd.DataFrame({"method": ["original"]}), ["method", "w1_over_floor"])
