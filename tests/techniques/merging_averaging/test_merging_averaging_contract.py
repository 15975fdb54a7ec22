"""Family contract of merging-averaging, driven by the registry: every technique's module loads, its
reference cases pass, its quick demo meets the result contract and its plot builds figures."""

import pytest

from refimpl import catalog

SLUGS = sorted(s for s, t in catalog.entries().items() if t.family == "merging-averaging")


def test_family_has_the_issue_techniques():
    expected = {
        "model-soups",
        "model-stock",
        "weight-matching-lmc",
        "adamerging",
        "optimal-ensemble-qp",
        "quantile-aggregation",
        "experts-weights-averaging",
    }
    assert expected <= set(SLUGS)


@pytest.mark.parametrize("slug", SLUGS)
def test_demo_contract_and_plot(slug, demo_result):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    r = demo_result(slug, 0)
    catalog.check_demo_result(r)
    figs = catalog.get(slug).plot(r)
    assert figs and all(hasattr(f, "savefig") for f in figs.values())
    import matplotlib.pyplot as plt

    for f in figs.values():
        plt.close(f)
