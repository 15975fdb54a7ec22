"""Write each harness technique's paper card (from its CATALOG_ENTRY) into the first cell of its notebook.

The first cell of a notebook on the harness is generated: `refimpl.catalog.card_markdown`.  Run this after
editing a CATALOG_ENTRY; tests/techniques/test_registry.py fails while a card and its notebook disagree.
"""

import hashlib
import json
from pathlib import Path

from refimpl import catalog

ROOT = Path(__file__).resolve().parents[1]
changed, missing = 0, []
for t in catalog.entries().values():
    path = ROOT / t.notebook
    if not path.is_file():  # a technique being written: its notebook comes later
        missing.append(t.notebook)
        continue
    nb = json.loads(path.read_text(encoding="utf-8"))
    card = catalog.card_markdown(t)
    first = nb["cells"][0]
    missing_ids = any("id" not in c for c in nb["cells"])
    if first["cell_type"] == "markdown" and "".join(first["source"]) == card and not missing_ids:
        continue
    source = card.splitlines(keepends=True)
    if first["cell_type"] == "markdown" and "<!-- card" in "".join(first["source"]):
        first["source"] = source
    else:
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": source})
    for i, cell in enumerate(nb["cells"]):  # nbformat 4.5 wants an id on every cell
        if "id" not in cell:
            cell["id"] = hashlib.sha1(f"{t.slug}:{i}".encode()).hexdigest()[:8]
    nb["nbformat"], nb["nbformat_minor"] = 4, max(nb.get("nbformat_minor", 5), 5)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    changed += 1
    print(f"card written: {path.relative_to(ROOT)}")
print(f"{changed} notebook(s) updated")
for name in missing:
    print(f"no notebook yet (skipped): {name}")
