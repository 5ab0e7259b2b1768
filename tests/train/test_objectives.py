"""The distillation loss: KL matches torch's kl_div, ensembles average, students move."""

import pytest
import torch
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.train.config import ObjectiveSection
from babybench.train.objectives import (DistillObjective, ObjectiveContext, Teacher, distill_kl,
                                        load_teacher, teacher_probs)


@pytest.mark.parametrize("T", [1.0, 2.0, 0.5], ids=["T=1", "T=2", "T=0.5"])
def test_kl_matches_torch_kl_div(T):
    torch.manual_seed(0)
    s, t = torch.randn(3, 5, 11), torch.randn(3, 5, 11) * 2
    p = teacher_probs([t], T)
    ref = F.kl_div(F.log_softmax(s / T, -1).reshape(-1, 11), p.reshape(-1, 11), reduction="batchmean")
    assert torch.allclose(distill_kl(s, p, T), ref, atol=1e-6)
    assert distill_kl(t, p, T).abs() < 1e-6  # identical distributions


def test_kl_mask_averages_only_kept_tokens():
    s, t = torch.randn(2, 4, 7), torch.randn(2, 4, 7)
    p = teacher_probs([t], 1.0)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    ref = F.kl_div(F.log_softmax(s[mask], -1), p[mask], reduction="batchmean")
    assert torch.allclose(distill_kl(s, p, 1.0, mask), ref, atol=1e-6)


def test_ensemble_averages_probabilities_not_logits():
    a, b = torch.randn(4, 9), torch.randn(4, 9)
    p = teacher_probs([a, b], 2.0)
    assert torch.allclose(p, (F.softmax(a / 2, -1) + F.softmax(b / 2, -1)) / 2)
    assert torch.allclose(p.sum(-1), torch.ones(4))


class _Fixed(torch.nn.Module):
    """A tiny LM: logits = embedding table lookup (the teacher or the student)."""

    def __init__(self, V, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.table = torch.nn.Parameter(torch.randn(V, V, generator=g) * 2)

    def forward(self, idx, targets=None):
        logits = self.table[idx]  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        from babybench.models import LMOutput
        return LMOutput(logits, loss, None)


def test_distillation_moves_student_toward_teacher():
    V = 13
    teacher = Teacher(_Fixed(V, 1).requires_grad_(False), "fixed", False, V * V)
    student = _Fixed(V, 2)
    ctx = ObjectiveContext(torch.device("cpu"), "sha", V)
    obj = DistillObjective(ObjectiveSection(name="distill", alpha=0.0, temperature=2.0), ctx, [teacher])
    opt = torch.optim.Adam(student.parameters(), lr=0.1)
    idx = torch.randint(0, V, (4, 16))
    kls = []
    for _ in range(60):
        loss, m = obj(student, idx, idx.roll(-1, 1))
        assert set(m) == {"ce", "kl"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        kls.append(m["kl"].item())
    assert kls[-1] < 0.2 * kls[0]
    assert obj.info() == {"name": "distill", "alpha": 0.0, "temperature": 2.0, "teachers": ["fixed"]}


def test_distill_without_teachers_is_an_error():
    ctx = ObjectiveContext(torch.device("cpu"), "sha", 8)
    with pytest.raises(BabybenchError, match="teachers is empty"):
        DistillObjective(ObjectiveSection(name="distill"), ctx)


def test_unknown_teacher_is_one_line_error(tmp_path):
    ctx = ObjectiveContext(torch.device("cpu"), "sha", 8)
    with pytest.raises(BabybenchError, match="neither a babybench run"):
        load_teacher(str(tmp_path / "nowhere"), ctx)
