"""Message catalogs: extract, update, compile and check the zh_CN and en translations.

Usage: python tools/i18n.py extract|update|compile|check   (`make messages`, `make messages-check`)

- extract: source and templates -> alliance/locale/messages.pot (mapping and keywords from babel.cfg)
- update:  extract, then merge the template into every catalog, keeping existing translations
- compile: every messages.po -> messages.mo (the app loads the .mo files at run time)
- check:   exit 1 when the template is stale, a catalog misses a message, a zh_CN message is
           untranslated or fuzzy, a placeholder differs from its msgid, or a .mo is stale

The English catalog leaves msgstr empty on purpose: gettext then shows the English msgid (and picks
singular or plural by n itself), so English wording is changed in the source, in one place.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

try:  # Babel >= 2.16
    from babel.messages.frontend import parse_mapping_cfg
except ImportError:  # pragma: no cover - older Babel
    from babel.messages.frontend import parse_mapping as parse_mapping_cfg
from babel.messages.frontend import parse_keywords

ROOT = Path(__file__).resolve().parent.parent
MAPPING_FILE = ROOT / "babel.cfg"
LOCALE_DIR = ROOT / "alliance" / "locale"
DOMAIN = "messages"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
LANGUAGES = ("zh_CN", "en")
# The language whose every message must be translated; en falls back to the (English) msgid.
REQUIRED_LANGUAGE = "zh_CN"
PROJECT = "Alliance"
BUGS_ADDRESS = "civil-affairs-it@alliance.invalid"

# printf-style (%(name)s, %d, %%) and str.format-style ({name}) placeholders.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_BRACES = re.compile(r"\{[^{}]*\}")


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict], dict]:
    """babel.cfg as (method map, options map, keywords). The keywords of every section are merged
    and passed globally, so every Babel version extracts the same set."""
    with open(MAPPING_FILE, encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(MAPPING_FILE))
    keywords: dict = {}
    for options in options_map.values():
        found = options.pop("keywords", None)
        if isinstance(found, str):
            found = parse_keywords(found.split())
        keywords.update(found or {})
    return method_map, options_map, keywords


def extract() -> Catalog:
    """The message template, built in memory from the source tree."""
    method_map, options_map, keywords = _mapping()
    template = Catalog(
        project=PROJECT, msgid_bugs_address=BUGS_ADDRESS, copyright_holder=PROJECT, charset="utf-8"
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _po_bytes(catalog: Catalog) -> bytes:
    # File names only, no line numbers: an edit elsewhere in a file does not churn every catalog.
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_by_file=True, include_lineno=False)
    return buffer.getvalue()


def _without_dates(content: bytes) -> bytes:
    return re.sub(rb'"(POT-Creation-Date|PO-Revision-Date): [^"]*"', b"", content)


def _write_if_changed(path: Path, content: bytes) -> bool:
    """Write unless only the header dates would change (keeps `git diff` quiet)."""
    if path.exists() and _without_dates(path.read_bytes()) == _without_dates(content):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def msgids(catalog: Iterable[Message]) -> set:
    return {message.id for message in catalog if message.id}


def cmd_extract() -> Catalog:
    template = extract()
    changed = _write_if_changed(TEMPLATE, _po_bytes(template))
    print(f"{TEMPLATE.relative_to(ROOT)}: {len(template)} messages{'' if changed else ' (unchanged)'}")
    return template


def cmd_update() -> None:
    template = cmd_extract()
    for language in LANGUAGES:
        path = po_path(language)
        if path.exists():
            catalog = read_catalog(path, language)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project=PROJECT, copyright_holder=PROJECT)
        # A reworded msgid becomes a fuzzy guess from the old one, which `check` then reports.
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
        catalog.obsolete.clear()
        changed = _write_if_changed(path, _po_bytes(catalog))
        print(f"{path.relative_to(ROOT)}: updated{'' if changed else ' (unchanged)'}")


def compiled(language: str) -> bytes:
    """The .mo file the language's .po compiles to. Fuzzy and untranslated entries are left out, as
    msgfmt does, so gettext falls back to the msgid (Babel's write_mo would keep a plural entry whose
    msgstr[] are all empty, and ngettext would then answer "")."""
    catalog = read_catalog(po_path(language), language)
    for message in list(catalog):
        if message.id and isinstance(message.string, (list, tuple)) and not all(message.string):
            catalog.delete(message.id, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def mo_messages(content: bytes) -> dict:
    """The translations a .mo holds, keyed by (msgid, context), header left out."""
    catalog = read_mo(io.BytesIO(content))
    return {
        (_hashable(message.id), message.context): _hashable(message.string)
        for message in catalog
        if message.id
    }


def _hashable(value: str | list | tuple) -> str | tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def cmd_compile() -> None:
    for language in LANGUAGES:
        content = compiled(language)
        path = mo_path(language)
        if path.exists() and mo_messages(path.read_bytes()) == mo_messages(content):
            print(f"{path.relative_to(ROOT)}: unchanged")
            continue
        path.write_bytes(content)
        print(f"{path.relative_to(ROOT)}: {len(mo_messages(content))} translations")


def _placeholders(text: str) -> Counter:
    found = Counter(_PERCENT.findall(text)) + Counter(_BRACES.findall(text))
    # A bare % left over would break Jinja's newstyle gettext, which always applies `%`.
    stray = _BRACES.sub("", _PERCENT.sub("", text)).count("%")
    if stray:
        found["%"] += stray
    return found


def placeholder_problems(catalog: Catalog) -> list[str]:
    """Messages whose translation does not carry exactly the placeholders of the msgid."""
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        sources = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        wanted = [_placeholders(source) for source in sources]
        for string in strings:
            if string and _placeholders(string) not in wanted:
                problems.append(f"{sources[0]!r} -> {string!r}")
    return problems


def untranslated(catalog: Catalog) -> list[str]:
    """msgids with no translation, or with a fuzzy one."""
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        if message.fuzzy or not all(strings):
            label = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
            missing.append(f"{label!r}{' (fuzzy)' if message.fuzzy else ''}")
    return missing


def cmd_check() -> int:
    problems: list[str] = []
    current = msgids(extract())
    if not TEMPLATE.exists():
        problems.append(f"{TEMPLATE.relative_to(ROOT)} is missing")
    else:
        stored = msgids(read_catalog(TEMPLATE))
        for msgid in sorted(map(str, current - stored)):
            problems.append(f"not extracted yet: {msgid}")
        for msgid in sorted(map(str, stored - current)):
            problems.append(f"no longer in the source: {msgid}")
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing")
            continue
        catalog = read_catalog(path, language)
        for msgid in sorted(map(str, current - msgids(catalog))):
            problems.append(f"{language}: not in the catalog: {msgid}")
        if language == REQUIRED_LANGUAGE:
            problems += [f"{language}: untranslated: {item}" for item in untranslated(catalog)]
        problems += [f"{language}: placeholders differ: {item}" for item in placeholder_problems(catalog)]
        mo = mo_path(language)
        if not mo.exists() or mo_messages(mo.read_bytes()) != mo_messages(compiled(language)):
            problems.append(f"{mo.relative_to(ROOT)} is not compiled from the current .po")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s); run `make messages`, translate, run it again", file=sys.stderr)
        return 1
    print(f"catalogs are complete: {len(current)} messages")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/i18n.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["extract", "update", "compile", "check"])
    command = parser.parse_args(argv).command
    if command == "extract":
        cmd_extract()
    elif command == "update":
        cmd_update()
    elif command == "compile":
        cmd_compile()
    else:
        return cmd_check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
