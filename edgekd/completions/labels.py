"""A student from an LLM's labels: parse the label from an answer, soft targets from log-probs.

When the teacher was asked to pick one of a label set, its answer names a label (parsed
here) and, when the record has top-k log-probs, the probabilities the teacher gave each
label's first token at the first answer position become a soft target distribution
(Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network": the teacher's
full distribution carries more than its argmax). A label whose tokens are not in the top k
gets 0; the distribution is renormalised over the labels, and the mass it covered before
renormalising is reported so a user can see when the top k missed most of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgekd.completions.logprobs import TopK

_WORD = re.compile(r"[^\w\s-]+")


def _norm(s: str) -> str:
    return " ".join(_WORD.sub(" ", s.lower()).split())


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label ``answer`` names: the whole answer, or the only label it mentions as a whole
    word (a label inside a longer mentioned one, ``spam`` in ``not spam``, does not count);
    None when it names none or several."""
    text = _norm(answer)
    normed = {_norm(lab): lab for lab in labels}
    if text in normed:
        return normed[text]
    found = [n for n in normed if re.search(rf"\b{re.escape(n)}\b", text)]
    found = [n for n in found if not any(n != m and n in m for m in found)]
    return normed[found[0]] if len(found) == 1 else None


@dataclass(frozen=True)
class SoftTarget:
    probs: dict[str, float]  # renormalised over the labels
    covered: float  # label probability mass found in the top k before renormalising
    position: int  # the answer position read


def soft_target(
    tk: TopK,
    labels: Sequence[str],
    decode: Callable[[int], str] | None = None,
) -> SoftTarget | None:
    """The teacher's distribution over ``labels`` at the first non-blank answer position.

    An alternative token counts for a label when its text (stripped, lowercased) is a
    non-empty prefix of exactly one label (``" Pos"`` counts for ``positive``). ``decode``
    maps token ids to text for a local teacher's records (``tokens == "ids"``). None when no
    label token is among the alternatives.
    """
    if len(tk) == 0:
        return None
    if tk.tokens == "ids" and decode is None:
        raise ValueError("token ids need the teacher's tokenizer: pass decode=tokenizer.decode")

    def text(i: int) -> str:
        return tk.vocab[i] if tk.tokens == "strings" else decode(i)  # type: ignore[misc]

    pos = next((t for t in range(len(tk)) if _norm(text(int(tk.sampled[t])))), 0)
    normed = [(_norm(lab), lab) for lab in labels]
    mass = dict.fromkeys(labels, 0.0)
    for tok, logp in zip(tk.top[pos].tolist(), tk.top_logprob[pos].tolist(), strict=True):
        t = _norm(text(tok))
        if not t or not np.isfinite(logp):
            continue
        hits = [lab for n, lab in normed if n.startswith(t)]
        if len(hits) == 1:
            mass[hits[0]] += float(np.exp(logp))
    covered = sum(mass.values())
    if covered <= 0:
        return None
    return SoftTarget({k: v / covered for k, v in mass.items()}, covered, pos)
