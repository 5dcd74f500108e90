"""Merge translations into the zh_Hans_CN catalogue: python scripts/fill-translations.py FILE.py
where FILE.py defines ZH = {msgid: translation}. Prints what is still untranslated."""
import runpy
import sys

from babel.messages.pofile import read_po, write_po

PO = "app/translations/zh_Hans_CN/LC_MESSAGES/messages.po"

table = runpy.run_path(sys.argv[1])["ZH"] if len(sys.argv) > 1 else {}
with open(PO, "rb") as fh:
    catalog = read_po(fh, locale="zh_Hans_CN")
for message in catalog:
    if message.id in table:
        message.string = table[message.id]
        message.flags.discard("fuzzy")
for key in list(catalog.obsolete):
    del catalog.obsolete[key]
with open(PO, "wb") as fh:
    write_po(fh, catalog, no_location=True, ignore_obsolete=True)
missing = [m.id for m in catalog if m.id and not m.string]
print("untranslated:", missing or "none")
