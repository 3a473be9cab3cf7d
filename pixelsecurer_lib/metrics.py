"""How close is an unlearned model to the retrained one? (chapters 02, 08 and 09)

* MAE on the forget and retain parts of the training and the test sets.
* W1, the 1-Wasserstein distance between two models' output distributions on D_f:
  W1(p, q) = inf over couplings gamma of E_gamma |X - Y| (``scipy.stats.wasserstein_distance``).
* The noise floor: W1 on D_f between two retrained models that differ only in their seed.
  No method can be meaningfully closer to retraining than that.
* Membership inference: a loss-based attack that learns to tell training members from test
  non-members by their per-sample loss, then reports which share of D_f it calls members.
* 95% confidence intervals over seeds (Student t).
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from scipy import stats


def mae(predictions, targets) -> float:
    """Mean absolute error (years); NaN for an empty set."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.size == 0:
        return float("nan")
    return float(np.abs(predictions - np.asarray(targets, dtype=np.float64)).mean())


def w1(predictions_a, predictions_b) -> float:
    """W1 between two samples of predictions (the empirical 1-Wasserstein distance)."""
    a = np.asarray(predictions_a, dtype=np.float64)
    b = np.asarray(predictions_b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("W1 needs two non-empty samples of predictions")
    return float(stats.wasserstein_distance(a, b))


def membership_inference(member_losses, nonmember_losses, target_losses, seed: int = 0,
                         max_per_class: int = 2000, return_attack: bool = False) -> Dict[str, float]:
    """A loss-based membership-inference attack (after the reference code's attack).

    An RBF support-vector classifier (C = 3) learns member (training retain samples) vs
    non-member (test samples) from the per-sample L1 loss, on balanced classes; half of each
    class trains it and the other half measures its ROC AUC. It then labels ``target_losses``
    (D_f): ``member_rate`` is the share it calls members. The retrained model, which never saw
    D_f, gives the rate to aim for. ``return_attack`` adds the fitted classifier (``attack``:
    its ``predict`` on a column of losses says where it answers "member"; chapter 09 draws it).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.svm import SVC

    rng = np.random.default_rng(seed)
    members = np.asarray(member_losses, dtype=np.float64)
    nonmembers = np.asarray(nonmember_losses, dtype=np.float64)
    n = min(len(members), len(nonmembers), max_per_class)
    if n < 4:
        raise ValueError("membership inference needs at least 4 members and 4 non-members")
    members = rng.choice(members, size=n, replace=False)
    nonmembers = rng.choice(nonmembers, size=n, replace=False)
    half = n // 2
    x_fit = np.concatenate([members[:half], nonmembers[:half]])[:, None]
    y_fit = np.concatenate([np.ones(half), np.zeros(half)])
    x_eval = np.concatenate([members[half:], nonmembers[half:]])[:, None]
    y_eval = np.concatenate([np.ones(n - half), np.zeros(n - half)])
    attack = SVC(C=3.0, gamma="auto", kernel="rbf", random_state=seed).fit(x_fit, y_fit)
    auc = float(roc_auc_score(y_eval, attack.decision_function(x_eval)))
    target = np.asarray(target_losses, dtype=np.float64)[:, None]
    rate = float(attack.predict(target).mean()) if len(target) else float("nan")
    result = {"member_rate": rate, "auc": auc}
    if return_attack:
        result["attack"] = attack
    return result


def mean_ci95(values: Sequence[float]) -> Dict[str, float]:
    """Mean and the half-width of its 95% Student-t interval (0 for one value)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0}
    if x.size == 1:
        return {"mean": float(x[0]), "ci95": 0.0, "n": 1}
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return {"mean": float(x.mean()), "ci95": half, "n": int(x.size)}
