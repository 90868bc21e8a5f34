"""Relation-based distillation losses: match how samples relate to each other in a batch.

Relations are computed within the batch, so student and teacher features may have any
(different) widths; no adapter is needed. Each loss is a plain ``nn.Module``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pairwise_distances(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances between the rows of ``e`` (N, D); zero diagonal."""
    sq = e.pow(2).sum(dim=1)
    d2 = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2 * e @ e.t()).clamp(min=eps)
    d = d2.sqrt()
    return d * (1 - torch.eye(len(e), dtype=e.dtype, device=e.device))


class RKDDistanceLoss(nn.Module):
    """RKD distance-wise loss (Park et al. 2019, "Relational Knowledge Distillation").

        psi_D(t_i, t_j) = ||t_i - t_j||_2 / mu,   mu = mean over pairs i != j of ||t_i - t_j||_2
        L_D = mean over pairs of Huber(psi_D(s_i, s_j) - psi_D(t_i, t_j))

    (Huber = smooth L1 with delta 1). Inputs are embeddings, flattened to (N, D).
    """

    def forward(self, e_s: torch.Tensor, e_t: torch.Tensor) -> torch.Tensor:
        e_s, e_t = e_s.flatten(1), e_t.flatten(1)
        n = len(e_s)
        off = ~torch.eye(n, dtype=torch.bool, device=e_s.device)
        with torch.no_grad():
            d_t = pairwise_distances(e_t)
            d_t = d_t / d_t[off].mean().clamp(min=1e-12)
        d_s = pairwise_distances(e_s)
        d_s = d_s / d_s[off].mean().clamp(min=1e-12)
        return F.smooth_l1_loss(d_s[off], d_t[off])


def triplet_angles(e: torch.Tensor) -> torch.Tensor:
    """cos of the angle at j for every triplet (i, j, k): <e_i - e_j, e_k - e_j>, normalized."""
    diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)  # [j, i] = e_i - e_j
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()


class RKDAngleLoss(nn.Module):
    """RKD angle-wise loss (Park et al. 2019).

    psi_A(t_i, t_j, t_k) = cos angle t_i t_j t_k = <e_ij, e_kj>,  e_ij = (t_i - t_j)/||t_i - t_j||
    L_A = mean over triplets of Huber(psi_A(s) - psi_A(t))
    """

    def forward(self, e_s: torch.Tensor, e_t: torch.Tensor) -> torch.Tensor:
        e_s, e_t = e_s.flatten(1), e_t.flatten(1)
        with torch.no_grad():
            a_t = triplet_angles(e_t)
        return F.smooth_l1_loss(triplet_angles(e_s), a_t)


class RKDLoss(nn.Module):
    """L_RKD = distance_weight * L_D + angle_weight * L_A (the paper uses 25 and 50)."""

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0) -> None:
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight
        self.distance, self.angle = RKDDistanceLoss(), RKDAngleLoss()

    def forward(self, e_s: torch.Tensor, e_t: torch.Tensor) -> torch.Tensor:
        out = e_s.new_zeros(())
        if self.distance_weight:
            out = out + self.distance_weight * self.distance(e_s, e_t)
        if self.angle_weight:
            out = out + self.angle_weight * self.angle(e_s, e_t)
        return out


def similarity_matrix(f: torch.Tensor) -> torch.Tensor:
    """Row-L2-normalized batch Gram matrix G = normalize(Q Q^T), Q = f reshaped to (N, -1)."""
    q = f.flatten(1)
    return F.normalize(q @ q.t(), p=2, dim=1)


class SimilarityPreservingLoss(nn.Module):
    """Similarity-preserving KD (Tung & Mori 2019, "Similarity-Preserving Knowledge
    Distillation").

        G = row_normalize(Q Q^T),  Q = activations reshaped to (b, -1)
        L_SP = 1 / b^2 * || G_t - G_s ||_F^2

    Works across layers of any shape since both G are (b, b).
    """

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        b = len(f_s)
        return (similarity_matrix(f_t) - similarity_matrix(f_s)).pow(2).sum() / (b * b)
