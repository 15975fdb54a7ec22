"""Take the README's screenshot of a technique page from a built book (`refimpl book` first).

python tools/book_screenshot.py [--site build/book/html] [--page techniques/architectures/dcls.html] [--out ...]
"""

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from refimpl.book.serve import serving

ROOT = Path(__file__).resolve().parents[1]
p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--site", default=str(ROOT / "build" / "book" / "html"))
p.add_argument("--page", default="techniques/architectures/dcls.html")
p.add_argument("--out", default=str(ROOT / "tools" / "book-technique-page.png"))
p.add_argument("--scroll", type=int, default=0, help="pixels to scroll down before the shot")
args = p.parse_args()
with serving(args.site) as url, sync_playwright() as pw:
    exe = shutil.which("chromium") or shutil.which("google-chrome")
    browser = pw.chromium.launch(
        executable_path=exe, args=["--no-sandbox", "--disable-background-networking"]
    )
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(url + args.page, wait_until="load")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    page.mouse.wheel(0, args.scroll)
    page.wait_for_timeout(300)
    page.screenshot(path=args.out)
    browser.close()
print(f"wrote {args.out}")
