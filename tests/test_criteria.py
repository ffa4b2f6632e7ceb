"""Criteria for k: values against scikit-learn, the gap and stability rules, the sentence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from clustomer.segment.criteria import (
    LOW_STABILITY,
    SILHOUETTE_MARGIN,
    KCriteria,
    choose_from_criteria,
    flag_unstable,
    k_criteria,
    kmeans_fit_labels,
    stability_label,
)
from clustomer.segment.criteria import _gap_rule as gap_rule

FIT = kmeans_fit_labels(n_init=2)

RULE_HEAD = "the highest stability ({:.2f}) among the k with a silhouette within 0.02 of the best"


def _kmeans(k: int, X: NDArray[np.float64]) -> KMeans:
    # tol=0: run to strict convergence, so that the centres are the labels' group means
    return KMeans(n_clusters=k, n_init=2, tol=0.0, random_state=0).fit(X)


def _fixed_kmeans(k: int, X: NDArray[np.float64], rs: np.random.RandomState) -> NDArray[np.intp]:
    """k-means that ignores the random state: its labels can be recomputed in a test."""
    return _kmeans(k, X).labels_


def _blobs() -> NDArray[np.float64]:
    X, _ = make_blobs(n_samples=400, centers=4, n_features=3, cluster_std=0.6, random_state=7)
    return X


@pytest.fixture(scope="module")
def blobs_crit() -> KCriteria:
    return k_criteria(_blobs(), range(2, 8), FIT, n_boot=5, n_refs=5, random_state=0)


def test_four_blobs_are_found(blobs_crit: KCriteria) -> None:
    crit = blobs_crit
    assert crit.ks == [2, 3, 4, 5, 6, 7]
    assert crit.sample_size == 400
    assert crit.chosen_k == 4
    assert crit.gap_k == 4
    assert crit.elbow_k == 4
    assert crit.best_silhouette_k == 4
    assert not crit.forced
    i4 = crit.ks.index(4)
    assert crit.stability[i4] > 0.98
    # the other candidates agree less with their own resamples
    assert max(s for k, s in zip(crit.ks, crit.stability, strict=True) if k > 4) < 0.9
    assert crit.reason == (
        "k = 4: " + RULE_HEAD.format(crit.stability[i4]) + "; the elbow and the gap statistic agree"
    )
    assert crit.reason.startswith("k = 4: the highest stability (1.00) among the k")
    # every true blob is a highly stable segment
    assert len(crit.segment_stability[4]) == 4
    assert min(crit.segment_stability[4]) > 0.95
    assert flag_unstable(crit.segment_stability[4]) == []
    # the gap rises to k = 4 by far more than its standard error, then levels off
    assert crit.gap[i4] - crit.gap[i4 - 1] > 10 * crit.gap_se[i4]
    assert all(se > 0 for se in crit.gap_se)
    assert crit.centers[4].shape == (4, 3)


def test_scores_match_sklearn_on_the_same_labels() -> None:
    X = _blobs()
    crit = k_criteria(X, [2, 3, 5], _fixed_kmeans, n_boot=0, n_refs=0)
    for j, k in enumerate(crit.ks):
        km = _kmeans(k, X)
        assert crit.silhouette[j] == pytest.approx(silhouette_score(X, km.labels_), abs=1e-6)
        assert crit.calinski_harabasz[j] == pytest.approx(
            calinski_harabasz_score(X, km.labels_), rel=1e-9
        )
        assert crit.davies_bouldin[j] == pytest.approx(
            davies_bouldin_score(X, km.labels_), rel=1e-9
        )
        assert crit.inertia[j] == pytest.approx(km.inertia_, rel=1e-6)
        np.testing.assert_allclose(
            crit.centers[k], km.cluster_centers_[np.argsort(np.unique(km.labels_))], atol=1e-6
        )
    # inertia is the within-cluster sum of squares, so it falls with k here
    assert crit.inertia[0] > crit.inertia[1] > crit.inertia[2]


def test_scores_are_on_a_sample() -> None:
    X = _blobs()
    crit = k_criteria(X, [2, 4], _fixed_kmeans, sample_size=150, n_boot=0, n_refs=0)
    assert crit.sample_size == 150
    full = _kmeans(4, X)
    assert crit.inertia[1] < 0.5 * full.inertia_  # 150 of 400 rows


def test_gap_on_uniform_data_finds_no_structure() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(300, 2))
    crit = k_criteria(X, range(2, 7), FIT, n_boot=0, n_refs=5, random_state=1)
    assert crit.gap_k == 1
    assert crit.gap_k is not None and crit.gap_k < 4
    # no k beats one cluster by more than its standard error
    assert all(g < crit.gap_1 + 3 * s for g, s in zip(crit.gap, crit.gap_se, strict=True))
    assert "the gap statistic suggests 1 (no cluster structure)" in crit.reason
    # the rule itself falls back to the silhouette when no resample was drawn
    assert crit.reason.startswith(f"k = {crit.best_silhouette_k}: the best silhouette (")
    assert "stability was not assessed" in crit.reason


def test_gap_rule_is_the_one_standard_error_rule() -> None:
    ks = [1, 2, 3, 4, 5]
    gap = [0.0, 0.5, 1.0, 1.05, 1.2]
    assert gap_rule(ks, gap, [0.1] * 5) == 3  # 1.0 >= 1.05 - 0.1
    assert gap_rule(ks, gap, [0.01] * 5) is None  # still rising at the end
    assert gap_rule(ks, [0.3, 0.35, 0.2, 0.1, 0.0], [0.1] * 5) == 1
    assert gap_rule(ks, [math.nan, 0.5, 0.4, 0.3, 0.2], [0.1] * 5) == 2


def _tight_and_diffuse() -> NDArray[np.float64]:
    rng = np.random.default_rng(1)
    tight = np.vstack([c + rng.normal(0, 0.3, (80, 2)) for c in ([0, 0], [8, 0], [4, 7])])
    diffuse = rng.uniform(-10, 18, size=(80, 2))
    return np.vstack([tight, diffuse])


def test_diffuse_segment_is_less_stable() -> None:
    crit = k_criteria(_tight_and_diffuse(), [4], FIT, n_boot=5, n_refs=0, random_state=1)
    stab = crit.segment_stability[4]
    centres = crit.centers[4]
    tight_at = np.array([[0.0, 0.0], [8.0, 0.0], [4.0, 7.0]])
    dist = np.linalg.norm(centres[:, None, :] - tight_at[None, :, :], axis=2)
    # the segment nearest to each tight blob; the remaining one holds the diffuse points
    tight = sorted({int(i) for i in dist.argmin(axis=0)})
    assert len(tight) == 3 and dist[tight].min(axis=1).max() < 2.0
    (diffuse,) = [i for i in range(4) if i not in tight]
    assert min(stab[i] for i in tight) > 0.7
    assert stab[diffuse] < LOW_STABILITY
    assert stab[diffuse] < min(stab[i] for i in tight) - 0.3
    assert flag_unstable(stab) == [diffuse]
    assert flag_unstable(stab, threshold=0.0) == []
    assert stability_label(stab[diffuse]) in ("dissolved", "not to be trusted")


def test_flag_unstable_and_labels() -> None:
    assert flag_unstable([0.9, LOW_STABILITY, LOW_STABILITY - 1e-9, math.nan]) == [2, 3]
    assert flag_unstable([0.7, 0.8], threshold=0.75) == [0]
    assert stability_label(0.85) == "highly stable"
    assert stability_label(0.5) == "dissolved"
    assert stability_label(math.nan) == "unknown"


def test_reproducible_for_a_seed() -> None:
    X = _tight_and_diffuse()
    a = k_criteria(X, [2, 3, 4], FIT, sample_size=200, n_boot=3, n_refs=3, random_state=5)
    b = k_criteria(X, [2, 3, 4], FIT, sample_size=200, n_boot=3, n_refs=3, random_state=5)
    rs = np.random.RandomState(5)
    c = k_criteria(X, [2, 3, 4], FIT, sample_size=200, n_boot=3, n_refs=3, random_state=rs)
    assert a.to_dict() == b.to_dict() == c.to_dict()
    d = k_criteria(X, [2, 3, 4], FIT, sample_size=200, n_boot=3, n_refs=3, random_state=6)
    assert d.inertia != a.inertia  # another sample


def _handmade(**kw: object) -> KCriteria:
    base: dict[str, object] = dict(
        ks=[2, 3, 4, 5],
        inertia=[100.0, 40.0, 20.0, 17.0],
        silhouette=[0.50, 0.49, 0.50 - SILHOUETTE_MARGIN, 0.47],
        calinski_harabasz=[1.0] * 4,
        davies_bouldin=[1.0] * 4,
        gap=[0.1] * 4,
        gap_se=[0.01] * 4,
        stability=[0.90, 0.934, 0.931, 0.99],
        segment_stability={},
        elbow_k=3,
        gap_k=3,
        best_silhouette_k=2,
        chosen_k=0,
        reason="",
        sample_size=500,
        n_boot=5,
        n_refs=5,
    )
    base.update(kw)
    return KCriteria(**base)  # type: ignore[arg-type]


def test_rule_margin_and_rounded_ties() -> None:
    # 5 is the most stable but outside the margin; 3 and 4 tie at 0.93 -> the smaller k
    k, reason = choose_from_criteria(_handmade())
    assert k == 3
    assert reason == "k = 3: " + RULE_HEAD.format(0.934) + "; the elbow and the gap statistic agree"
    k, reason = choose_from_criteria(_handmade(stability=[0.90, 0.934, 0.936, 0.99], gap_k=None))
    assert k == 4
    assert reason.endswith("; the elbow suggests 3, the gap statistic still rises at k = 5")
    k, reason = choose_from_criteria(_handmade(silhouette=[math.nan] * 4, elbow_k=None))
    assert k == 5
    assert reason == (
        "k = 5: the highest stability (0.99); no silhouette could be computed; "
        "the inertia curve has no clear elbow, the gap statistic suggests 3"
    )
    k, reason = choose_from_criteria(_handmade(stability=[math.nan] * 4, n_boot=0))
    assert k == 2
    assert reason == (
        "k = 2: the best silhouette (0.50); stability was not assessed; "
        "the elbow suggests 3, the gap statistic suggests 3"
    )


def test_degenerate_identical_rows() -> None:
    crit = k_criteria(np.ones((50, 3)), range(2, 11), FIT, n_boot=3, n_refs=3)
    assert crit.ks == [] and crit.chosen_k == 1 and crit.elbow_k is None
    assert crit.reason.startswith("k = 1: all sampled customers have the same feature values")
    json.dumps(crit.to_dict(), allow_nan=False)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_degenerate_fewer_rows_than_k(n: int) -> None:
    X = np.arange(2 * n, dtype=np.float64).reshape(n, 2) ** 1.5
    crit = k_criteria(X, range(2, 11), FIT, n_boot=3, n_refs=3)
    assert crit.ks == list(range(2, max(n - 1, 2) + 1))
    assert isinstance(crit.chosen_k, int) and crit.chosen_k in crit.ks
    assert crit.reason.startswith(f"k = {crit.chosen_k}: ")
    assert crit.reason.endswith(f"; k was capped at {crit.ks[-1]} by the {n} sampled customers")
    if n == 2:  # two points in two clusters: no silhouette
        assert math.isnan(crit.silhouette[0])
        assert "no silhouette could be computed" in crit.reason
    json.dumps(crit.to_dict(), allow_nan=False)


def test_only_one_candidate_and_nothing_to_compare() -> None:
    crit = k_criteria(_blobs(), [3], FIT, n_boot=2, n_refs=2)
    assert crit.ks == [3] and crit.chosen_k == 3
    assert crit.reason.startswith("k = 3: the highest stability (")
    assert "the inertia curve has no clear elbow" in crit.reason
    bare = k_criteria(np.array([[0.0], [1.0]]), [2], FIT, n_boot=0, n_refs=0)
    assert bare.chosen_k == 2
    assert bare.reason == (
        "k = 2: too few customers to compare segmentations, so the smallest candidate was used"
    )


def test_forced_k(blobs_crit: KCriteria) -> None:
    crit = k_criteria(_blobs(), range(2, 6), FIT, n_boot=5, n_refs=5, forced_k=7)
    assert crit.forced and crit.chosen_k == 7
    assert crit.ks == [2, 3, 4, 5, 7]  # the forced k gets its curves
    assert len(crit.segment_stability[7]) == 7
    assert crit.reason.startswith("k = 7 as asked; the rule would pick 4 (the highest stability")
    k, reason = choose_from_criteria(blobs_crit, forced_k=6)
    assert k == 6
    assert (
        reason == f"k = 6 as asked; the rule would pick 4 ({blobs_crit.reason[len('k = 4: ') :]})"
    )
    k, reason = choose_from_criteria(blobs_crit, forced_k=4)
    assert reason.startswith("k = 4 as asked, which the rule would pick too (the highest")
    assert crit.to_dict()["forced"] is True


def test_to_dict_is_json_ready(blobs_crit: KCriteria) -> None:
    d = blobs_crit.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["ks"] == [2, 3, 4, 5, 6, 7]
    assert back["chosen_k"] == 4 and back["gap_k"] == 4
    assert set(back["segment_stability"]) == {"2", "3", "4", "5", "6", "7"}
    assert len(back["centers"]["4"]) == 4
    nan_crit = _handmade(silhouette=[math.nan, 0.2, 0.3, 0.1])
    assert nan_crit.to_dict()["silhouette"][0] is None


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        k_criteria(np.empty((0, 2)), [2], FIT)
    with pytest.raises(ValueError):
        k_criteria(np.array([[0.0, math.nan], [1.0, 1.0]]), [2], FIT)
    with pytest.raises(ValueError):
        k_criteria(np.ones((5, 2)), [], FIT)


def test_gap_formula_per_row_with_smaller_reference_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    import clustomer.segment.criteria as criteria

    X = _blobs()
    rng = np.random.default_rng(3)
    refs = [rng.uniform(X.min(axis=0), X.max(axis=0), size=(100, 3)) for _ in range(3)]
    monkeypatch.setattr(criteria, "_reference_sets", lambda *args: refs)
    crit = k_criteria(X, [2, 4], _fixed_kmeans, n_boot=0, n_refs=3, ref_size=100)
    assert crit.ref_size == 100

    def log_w(Z: NDArray[np.float64], k: int) -> float:
        w = ((Z - Z.mean(axis=0)) ** 2).sum() if k == 1 else _kmeans(k, Z).inertia_
        return math.log(w / Z.shape[0])

    rows = [(1, crit.gap_1, crit.gap_se_1), *zip([2, 4], crit.gap, crit.gap_se, strict=True)]
    for k, gap, se in rows:
        ref = np.array([log_w(Z, k) for Z in refs])
        assert gap == pytest.approx(ref.mean() - log_w(X, k), rel=1e-6)
        assert se == pytest.approx(ref.std() * math.sqrt(1 + 1 / 3), rel=1e-6)


@pytest.mark.parametrize(("kind", "aligned"), [("pca", True), ("box", False)])
def test_gap_reference_box(kind: str, aligned: bool) -> None:
    from clustomer.segment.criteria import _reference_sets

    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, 500)
    X = np.column_stack([t, t + rng.normal(0, 0.05, 500)])  # a thin diagonal band
    (Z,) = _reference_sets(X, 1, 2000, kind, 0)
    assert Z.shape == (2000, 2)
    corr = float(np.asarray(np.corrcoef(Z.T))[0, 1])
    # variant (b) follows the band; variant (a) fills the square of the features' ranges
    assert (corr > 0.95) if aligned else (abs(corr) < 0.1)
    if not aligned:
        assert np.all(Z.min(axis=0) >= X.min(axis=0)) and np.all(Z.max(axis=0) <= X.max(axis=0))
