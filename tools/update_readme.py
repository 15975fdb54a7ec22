"""Rewrite the catalogue table in README.md from the registry (between the catalogue markers)."""

import re
from pathlib import Path

from refimpl.catalog import markdown_table

START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text(encoding="utf-8")
new = re.sub(f"{START}.*?{END}", f"{START}\n{markdown_table()}\n{END}", text, flags=re.S)
readme.write_text(new, encoding="utf-8")
print("README catalogue table updated" if new != text else "README catalogue table already up to date")
