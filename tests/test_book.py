"""The rendered book, built in quick mode with a sample of techniques and opened in headless Chromium.

Checked on the home page, the chapters, the API pages and every sampled technique page: no console error and no request
leaves localhost (the site works offline); every image loads; every equation is typeset by MathJax and no
`$…$` is left raw in the prose; every internal link (and its #anchor) resolves; the catalogue table filters.
Skipped, saying why, when the book's generator or a Chromium cannot be found (`apt-get install chromium`,
or REFIMPL_CHROMIUM=/path/to/chrome).  REFIMPL_BOOK_SITE=build/book/html checks a book already built
(e.g. the whole one, `refimpl book`) instead of building the sample.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

SAMPLE = ["dcls", "global-magnitude-pruning", "bone"]  # three families; each page has plots and equations
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in (os.environ.get("REFIMPL_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the book's generator is not installed: pip install -e '.[book]'")
    pytest.importorskip("myst_nb", reason="the book's generator is not installed: pip install -e '.[book]'")
    from refimpl import book

    if os.environ.get("REFIMPL_BOOK_SITE"):
        return Path(os.environ["REFIMPL_BOOK_SITE"]).resolve()
    out = tmp_path_factory.mktemp("book")
    home = book.build(out, only=SAMPLE, jobs=2)
    return home.parent


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium found: apt-get install chromium, or set REFIMPL_CHROMIUM to a Chrome binary")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def base_url(site):
    from refimpl.book.serve import serving

    with serving(site) as url:
        yield url


def _open(browser, url):
    """Load `url`; return the page and the problems seen (console errors, failed or off-site requests)."""
    page = browser.new_page()
    problems = []
    host = urllib.parse.urlsplit(url).netloc

    def route(r):
        if urllib.parse.urlsplit(r.request.url).netloc != host and not r.request.url.startswith("data:"):
            problems.append(f"request leaves the site: {r.request.url}")
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="load")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return page, problems


MATH_AND_IMAGES = """() => {
  const article = document.querySelector('article') || document.body;
  const maths = Array.from(article.querySelectorAll('.math'));
  const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, .math, mjx-container, script, style').forEach(n => n.remove());
  const raw = (clone.textContent.match(/\\$[^$\\n]{1,80}\\$/g) || []).slice(0, 5);
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  const apis = article.querySelectorAll('dl.py').length;
  const rst = (clone.textContent.match(/\\.\\. [a-z:]+::[^\\n]{0,40}/g) || []).slice(0, 3);
  return {maths: maths.length, untypeset, raw, images: imgs.length, broken, apis, rst};
}"""


def _built(site) -> list[str]:
    """The technique slugs the site has pages for."""
    return sorted(
        p.stem
        for p in (site / "techniques").rglob("*.html")
        if p.stem != "index" and not p.stem.endswith("-code")
    )


def _pages(site):
    rel = ["index.html"] + [
        f"{d}/{p.name}" for d in ("chapters", "api") for p in sorted((site / d).glob("*.html"))
    ]
    for p in sorted((site / "techniques").rglob("*.html")):
        rel.append(p.relative_to(site).as_posix())
    return rel


def test_every_sampled_page_loads_offline_with_equations_and_images(site, browser, base_url):
    pages, built = _pages(site), _built(site)
    assert set(SAMPLE) <= set(built) and sum("-code.html" in p for p in pages) == len(built)
    failures = []
    for rel in pages:
        page, problems = _open(browser, base_url + rel)
        seen = page.evaluate(MATH_AND_IMAGES)
        page.close()
        slug = rel.rsplit("/", 1)[-1].removesuffix(".html")
        failures += [f"{rel}: {p}" for p in problems]
        failures += [f"{rel}: equation left untypeset: {m!r}" for m in seen["untypeset"]]
        failures += [f"{rel}: raw $…$ in the prose: {m!r}" for m in seen["raw"]]
        failures += [f"{rel}: image did not load: {m}" for m in seen["broken"]]
        failures += [f"{rel}: reStructuredText left unrendered: {m!r}" for m in seen["rst"]]
        if rel.startswith("api/") and seen["apis"] < 3:
            failures.append(f"{rel}: an API page with {seen['apis']} documented objects")
        if slug in SAMPLE and not (seen["maths"] > 0 and seen["images"] > 0):
            failures.append(f"{rel}: a technique page without typeset equations or plots: {seen}")
    assert not failures, "\n".join(failures)


def test_internal_links_resolve(site, browser, base_url):
    targets = set()
    for rel in _pages(site):
        page, _ = _open(browser, base_url + rel)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        page.close()
        targets.update(h for h in hrefs if h.startswith(base_url))
    assert len(targets) > 20
    bodies = {}
    for url in sorted(targets):
        path, _, anchor = url.partition("#")
        if path not in bodies:
            with urllib.request.urlopen(path) as r:  # raises on a 404
                bodies[path] = r.read().decode("utf-8", "replace")
        if anchor:
            ident = urllib.parse.unquote(anchor)
            assert re.search(rf'id="{re.escape(ident)}"', bodies[path]), (
                f"{url}: no element with id {ident!r}"
            )


def test_catalogue_table_filters(site, browser, base_url):
    from refimpl import catalog
    from refimpl.experiments import recorded

    page, problems = _open(browser, base_url + "index.html")
    visible = "() => Array.from(document.querySelectorAll('#catalogue tbody tr')).filter(r => r.offsetParent).length"
    built = _built(site)
    assert page.evaluate(visible) == len(built)
    page.fill("#filter-text", "dcls")
    assert page.evaluate(visible) == 1
    page.fill("#filter-text", "")
    family = catalog.get("bone").family
    page.select_option("#filter-family", family)
    n_family = sum(catalog.get(s).family == family for s in built)
    assert page.evaluate(visible) == n_family
    assert page.text_content("#filter-count") == f"{n_family} of {len(built)} techniques"
    page.select_option("#filter-family", "")
    page.select_option("#filter-verdict", "fails")
    fails = [s for s in built if any(c["verdict"] == "fails" for c in recorded(s).claims)]
    assert 0 < page.evaluate(visible) == len(fails) < len(built)
    page.close()
    assert not problems, problems
