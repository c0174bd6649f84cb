"""What to try when a classifier learned nothing: its accuracy at the end no better than
always answering the most common class (chance), said with the settings to change."""

from __future__ import annotations

from bpcli.errors import setting


def majority_share(model, table) -> float:
    """The share of rows in the most common class: what a classifier gets by never looking."""
    import numpy as np  # deferred: loads numpy

    y = np.asarray(table.data[model.target])
    if model.head == "logits":
        counts = np.unique(y, return_counts=True)[1]
        return float(counts.max() / len(y))
    ones = float(np.count_nonzero(y >= 0.5)) / len(y)
    return max(ones, 1.0 - ones)


def chance_note(run, table) -> str | None:
    """A note when a finished classifier's last accuracy is at chance or below, naming what to
    change; None otherwise (not a classifier, stopped early, or it learned)."""
    model, s = run.model, run.settings
    if model.head is None or not run.epochs or run.interrupted or run.diverged:
        return None
    accuracy, chance = run.epochs[-1].accuracy, majority_share(model, table)
    if accuracy is None or accuracy > chance + 1e-12:
        return None
    tries = []
    if not model.network:
        tries.append("a network (bp train mlp) if no straight line separates the classes, as in XOR "
                     "(a model linear in the features, such as logistic, cannot bend)")
    elif "h1 =" not in model.text:
        tries.append(f"hidden layers ({setting('hidden', '16,16')}): without them the boundary is a straight line")
    elif "h1 = W1" in model.text:
        tries.append(f"an activation ({setting('activation', 'tanh')}): without one the layers are one linear map")
    if s.optimizer != "adam":
        tries.append(setting("optimizer", "adam"))
    tries.append(f"more epochs ({setting('epochs', s.epochs * 4)})")
    tries.append(f"a larger learning rate ({setting('lr', s.lr * 5)})")
    if s.batch_size is not None:
        tries.append(setting("batch_size", "all"))
    return (f"the accuracy ended at {accuracy:.1%}, no better than chance ({chance:.1%}, always answering the "
            f"most common class): the model learned nothing that classifies. Try " + "; ".join(tries))
