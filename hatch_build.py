"""Build hook: compile each language's message catalogue (``messages.po``) into ``messages.mo``.

Hatchling runs it for the wheel, the editable install (``pip install -e``) and the sdist alike, so a
translation edited in ``linkgate/translations/LANG/LC_MESSAGES/messages.po`` is live after the next
install. The compiled files are build products: git ignores them, the wheel carries them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogues(BuildHookInterface):
    PLUGIN_NAME = "compile-catalogues"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root) / "linkgate" / "translations"
        for po_path in sorted(root.glob("*/LC_MESSAGES/messages.po")):
            with po_path.open("rb") as source:
                catalogue = read_po(source, locale=po_path.parents[1].name)
            errors = [
                (message.id, problem) for message, problems in catalogue.check() for problem in problems
            ]
            if errors:
                raise RuntimeError(f"{po_path}: {errors[0][0]!r}: {errors[0][1]}")
            with po_path.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalogue)
        build_data.setdefault("artifacts", []).append("linkgate/translations/*/LC_MESSAGES/messages.mo")
