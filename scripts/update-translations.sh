#!/usr/bin/env bash
# Re-extract user-visible strings and merge them into the catalogues (then translate the new
# entries in app/translations/*/LC_MESSAGES/messages.po and run `make translations`).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k _l -k N_ --no-location -o app/translations/messages.pot \
  .
.venv/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
