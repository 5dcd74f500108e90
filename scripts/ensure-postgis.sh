#!/usr/bin/env bash
# Make sure a PostGIS database is there and reachable, and print its URL on stdout.
#   scripts/ensure-postgis.sh NAME
# With DATABASE_URL set: only checks that server (never installs or starts anything) and
# creates the extensions when the role may. Without it: starts the local Debian cluster when it
# is down, creates the role `gridwatch` (password `gridwatch`, superuser: this is a development
# and demo cluster; tests create and wipe their own database) and database NAME with PostGIS.
set -euo pipefail
name=${1:-gridwatch}

fail() { echo "ensure-postgis: $*" >&2; exit 1; }

if [ -n "${DATABASE_URL:-}" ]; then
  url=$DATABASE_URL
  PGOPTIONS='-c client_min_messages=warning' \
    psql "$(echo "$url" | sed 's/+psycopg2//')" -v ON_ERROR_STOP=1 -qtAc \
    "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist;" \
    >/dev/null || fail "DATABASE_URL ($url) is not a reachable PostGIS database"
  echo "$url"
  exit 0
fi

major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
[ -n "$major" ] || fail "PostgreSQL is not installed (run scripts/system-deps.sh as root)"
[ -f "/usr/share/postgresql/$major/extension/postgis.control" ] \
  || fail "PostGIS for PostgreSQL $major is missing (apt-get install postgresql-$major-postgis-3)"
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  pg_createcluster "$major" main >/dev/null
fi
cluster=$(pg_lsclusters -h | head -n 1 | awk '{print $1" "$2}')
port=$(pg_lsclusters -h | head -n 1 | awk '{print $3}')
if ! pg_lsclusters -h | head -n 1 | grep -q online; then
  echo "ensure-postgis: starting PostgreSQL cluster $cluster" >&2
  # shellcheck disable=SC2086
  pg_ctlcluster --skip-systemctl-redirect $cluster start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p "$port" || fail "PostgreSQL on port $port did not come up"

# From / so the postgres user can enter its working directory; NOTICEs are noise here.
as_postgres() {
  (cd / && PGOPTIONS='-c client_min_messages=warning' \
    runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@")
}
as_postgres -c "DO \$\$BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridwatch') THEN
    CREATE ROLE gridwatch LOGIN SUPERUSER PASSWORD 'gridwatch';
  END IF; END\$\$;" >/dev/null
if [ -z "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
  as_postgres -c "CREATE DATABASE \"$name\" OWNER gridwatch" >/dev/null
fi
as_postgres -d "$name" -c "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist;" >/dev/null
echo "postgresql+psycopg2://gridwatch:gridwatch@127.0.0.1:$port/$name"
