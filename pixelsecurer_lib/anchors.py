"""Published numbers, with their sources: the one home of every figure not computed here.

Chapters 03, 05 and 08 and the benchmark show these as *anchors*, in their own tables and never
mixed with our runs. Each anchor names where it comes from; none is measured by this package.

* ``AGEDB`` -- AgeDB as its authors describe it (Moschoglou et al., CVPRW 2017).
* ``AGEDB_DIR_SPLIT`` -- the AgeDB-DIR split (Yang et al., ICML 2021), which the reference code
  of Tarun et al. uses.
* ``SLIDES`` -- the presentation this book grew from (Ghosh and Dey, "PixelSecurer: Enhancing
  Privacy in Age Recognition From Images", slides, IIT Bombay): AgeDB, forget ages 0-30 and
  60-101.
* ``REFERENCE_CODE`` -- the stored output of the reference code's notebook
  ``AgeDB_AllCNN_0to30_forgetting.ipynb`` (Tarun et al., ICML 2023): AgeDB, forget ages <= 30,
  one run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Tuple

import pandas as pd


@dataclass(frozen=True)
class Anchor:
    """A set of published numbers and where they come from."""

    source: str
    values: Mapping

    def __getitem__(self, key):
        return self.values[key]


AGEDB = Anchor(
    source="Moschoglou et al. 2017 (AgeDB)",
    values={"images": 16_488, "subjects": 568, "youngest age": 1, "oldest age": 101,
            "images per subject, mean": 29,          # about 16,488 / 568
            "median of subject mean ages": 50.3},    # approximately
)

AGEDB_DIR_SPLIT = Anchor(
    source="Yang et al. 2021 (AgeDB-DIR split)",
    values={"train": 12_208, "validation": 2_140, "test": 2_140},
)

# W1 to the retrained model on D_f (years) and MAE on D_r / D_f (years), per forget range
SLIDES = Anchor(
    source="Ghosh and Dey, PixelSecurer slides (AgeDB)",
    values={
        "w1": {"original": {"0–30": 6.3929, "60–101": 8.7661},
               "amnesiac": {"0–30": 0.6148, "60–101": 1.6962},
               "blindspot": {"0–30": 3.4921, "60–101": 1.9200}},
        "retain_mae": {"retrain": 9.8752, "amnesiac": 9.6447, "blindspot": 9.8752},
        "forget_mae": {"retrain": 20.4281, "amnesiac": 20.78454, "blindspot": 18.85484},
    },
)

# W1 on the training forget set; MAE on the test retain / test forget parts (years)
REFERENCE_CODE = Anchor(
    source="Tarun et al. 2023, reference code, AgeDB_AllCNN_0to30_forgetting.ipynb",
    values={
        "w1": {"original": 2.99, "finetune": 1.62, "amnesiac": 2.33, "blindspot": 1.15},
        "test_retain_mae": {"original": 9.33, "retrain": 11.38, "finetune": 9.79,
                            "amnesiac": 9.81, "blindspot": 9.98},
        "test_forget_mae": {"original": 12.77, "retrain": 24.31, "finetune": 14.83,
                            "amnesiac": 17.07, "blindspot": 21.63},
        # its attack's member rate on D_f (members drawn from the whole training set)
        "mia_forget": {"original": 0.5925, "retrain": 0.3005, "finetune": 0.4285,
                       "amnesiac": 0.4965, "blindspot": 0.403},
    },
)


def table(anchor: Anchor, metrics: Tuple[str, ...], labels: Dict[str, str] = None) -> pd.DataFrame:
    """Some of an anchor's per-method measurements as a table (a row per method)."""
    frame = pd.DataFrame({m: anchor[m] for m in metrics})
    if labels:
        frame = frame.rename(index=labels)
    frame.columns.name = f"published anchor: {anchor.source}"
    return frame


def w1_share_of_original(anchor: Anchor, forget_range: str = None) -> Dict[str, float]:
    """Each method's W1 divided by the original model's, from an anchor's ``w1`` table: the
    share of the original's distance a method leaves (scale-free, so comparable across data)."""
    w1 = anchor["w1"]
    pick = (lambda v: v[forget_range]) if forget_range else (lambda v: v)
    base = pick(w1["original"])
    return {m: pick(v) / base for m, v in w1.items() if m != "original"}
