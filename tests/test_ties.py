"""Ties in explanation maps: the tie fraction, random tie-breaking in rank normalisation, degenerate-map reasons."""
from __future__ import annotations

import pytest
import torch
from scipy.stats import rankdata

from spectral_lib.spectral import degenerate_reason, expected_frequency, rank_normalize, tie_fraction, to_map


def _zeros(frac: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(1, 28, 28, generator=g, dtype=torch.float64)
    m.view(-1)[: round(frac * 784)] = 0.0
    return m


@pytest.mark.parametrize("frac", [0.0, 0.3, 0.6])
def test_tie_fraction_counts_exactly_tied_pixels(frac):
    assert float(tie_fraction(_zeros(frac))) == pytest.approx(round(frac * 784) / 784 if frac else 0.0)


def test_tie_fraction_of_constant_and_channel_sum():
    assert float(tie_fraction(torch.ones(1, 4, 4))) == 1.0
    a = torch.randn(2, 3, 5, 5)
    assert torch.equal(tie_fraction(a), tie_fraction(a.sum(1)))


def test_random_tie_break_is_a_permutation_that_keeps_the_order_of_distinct_values():
    m = _zeros(0.6).abs() + 0.0  # the zeros are then the smallest values
    m[m != 0] += 0.1
    g = torch.Generator().manual_seed(3)
    r = rank_normalize(m, "random", g)
    ranks = (r * 784).round().long().flatten()
    assert torch.equal(ranks.sort().values, torch.arange(1, 785))  # every rank once
    avg = torch.as_tensor(rankdata(m.flatten().numpy(), method="average"))
    nz = m.flatten() != 0
    # pixels with distinct values keep their rank; tied zeros share the ranks 1..470 in some order
    assert torch.equal(ranks[nz].double(), avg[nz])
    assert set(ranks[~nz].tolist()) == set(range(1, int((~nz).sum()) + 1))


def test_random_tie_break_is_seeded_and_equals_average_without_ties():
    m = _zeros(0.3)
    r1 = rank_normalize(m, "random", torch.Generator().manual_seed(1))
    r2 = rank_normalize(m, "random", torch.Generator().manual_seed(1))
    assert torch.equal(r1, r2)
    distinct = torch.randn(2, 6, 6)
    assert torch.equal(rank_normalize(distinct, "random", torch.Generator().manual_seed(5)), rank_normalize(distinct))


def test_ties_lower_the_paper_ef_and_random_tie_break_undoes_it():
    """The measurement issue of the rigour issue: exact zeros (a flat plateau after average ranks) pull the paper's EF
    down; breaking the ties at random brings it back to white noise's."""
    g = torch.Generator().manual_seed(0)
    base = torch.stack([_zeros(0.0, s)[0] for s in range(20)])
    tied = base.clone()
    tied.view(20, -1)[:, :470] = 0.0
    ef_base = expected_frequency(to_map(base)).mean()
    ef_tied = expected_frequency(to_map(tied)).mean()
    ef_broken = expected_frequency(to_map(tied, ties="random", generator=g)).mean()
    assert ef_tied < 0.9 * ef_base
    assert ef_broken == pytest.approx(float(ef_base), rel=0.05)


def test_degenerate_reasons():
    m = torch.randn(5, 8, 8)
    m[1] = 0.0
    m[2] = 3.0
    m[3].view(-1)[:60] = 0.0  # 60 of 64 pixels tied
    m[4, 0, 0] = float("nan")
    assert degenerate_reason(m) == [None, "all zero", "constant", "94% tied values", "non-finite values"]
    assert degenerate_reason(m[:1], max_tie_fraction=0.0) == [None]
    with pytest.raises(ValueError, match="max_tie_fraction"):
        degenerate_reason(m, max_tie_fraction=2)
