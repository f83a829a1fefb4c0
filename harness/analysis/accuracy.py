"""How many served answers were right: the accuracy of some request rows (their ``correct`` column)."""
from __future__ import annotations


def accuracy_fields(rows: list[dict]) -> dict:
    """``accuracy`` (None: nothing judged) and ``accuracy_n`` (requests judged) of some request rows."""
    judged = [r for r in rows if str(r.get("correct")) in ("0", "1")]
    return {"accuracy": sum(r["correct"] == "1" for r in judged) / len(judged) if judged else None,
            "accuracy_n": len(judged) or None}
