"""The module wrapping a transformers classifier so that it returns the logits tensor."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class HFClassifier(nn.Module):
    """A transformers classifier called like every edgekd model: it returns the logits.

    Image: ``forward(pixel_values)``; text: ``forward(input_ids, attention_mask=None)``
    (a missing mask attends to every token). ``interpolate`` runs a ViT-like model on another
    image size than its position embeddings were trained for (transformers'
    ``interpolate_pos_encoding``).
    """

    def __init__(
        self, model: nn.Module, task: Literal["image", "text"], interpolate: bool = False
    ) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.interpolate = interpolate

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.task == "image":
            kw = {"interpolate_pos_encoding": True} if self.interpolate else {}
            return self.model(pixel_values=x, **kw).logits
        if attention_mask is None:
            attention_mask = torch.ones_like(x)
        return self.model(input_ids=x, attention_mask=attention_mask).logits
