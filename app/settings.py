"""Default settings. Each comment is that setting's documentation (docs/configuration.md
lists them too, and a test fails when one is missing there).

Order of precedence, lowest first: this module, ``instance/gridwatch.cfg`` (a Python file),
environment variables ``GRIDWATCH_<NAME>`` (values parsed as JSON when they parse), the
``DATABASE_URL`` environment variable, then the mapping a test passes to ``create_app``.
"""
from gis.db import DEFAULT_DATABASE_URL as _default_database_url

# SQLAlchemy URL of a PostGIS database. DATABASE_URL in the environment overrides it.
DATABASE_URL = _default_database_url

# Read replicas: URLs of PostgreSQL streaming-replication standbys of DATABASE_URL (a list, or
# one string separated by commas or spaces: GRIDWATCH_DATABASE_REPLICA_URLS). GET and HEAD
# requests read from one of them, writes go to DATABASE_URL; a user's reads go to a standby
# only once it has replayed their last write (its WAL position is kept in their session).
# Empty: everything on DATABASE_URL (docs/scaling.md).
DATABASE_REPLICA_URLS = []

# Test a pooled connection as it is taken (one round trip, 0.1-0.3 ms), so that after a
# database restart no request meets a dead connection: "writes" tests it for every method but
# GET, HEAD and OPTIONS (a read that meets one is run again, unseen: DATABASE_RETRY_DELAYS);
# True for every request (SQLAlchemy's pool_pre_ping, ~10 % of the lookup's throughput);
# False only for connections idle for more than 10 s (then a write may answer 503).
DATABASE_PRE_PING = "writes"

# The database away for a moment (a restart, a failover): a GET or HEAD is run again after
# each of these delays (seconds) before it answers 503; a write answers 503 at once. Either
# way the answer says Retry-After: DATABASE_RETRY_AFTER_SECONDS (docs/reliability.md).
DATABASE_RETRY_DELAYS = [0.3, 1.0]
DATABASE_RETRY_AFTER_SECONDS = 2

# Signs session cookies: whoever knows it can forge anyone's login. The app refuses to start
# with this published default, an empty key or one shorter than 32 bytes, unless ENV is
# "development". Set GRIDWATCH_SECRET_KEY to 32 random bytes or more (docs/deployment.md).
SECRET_KEY = "dev-only-change-me"

# "development" (or "dev") allows the default secret key, for the demo (`make demo` sets it).
# Anything else, or nothing, is production.
ENV = "production"

# Behind a reverse proxy: how many proxies in front of the app add to X-Forwarded-For (1 for
# the one in docs/deployment.md). 0 ignores the header, as it must when clients reach the app
# directly (they could type any address into it). The client address is what the audit log
# records, what login throttling counts and what a session is bound to.
PROXY_FIX_X_FOR = 0

# The UI language when the user has not chosen one: zh_Hans_CN (Chinese) or en.
BABEL_DEFAULT_LOCALE = "zh_Hans_CN"

# Languages a user may pick (?lang=... or the switch in the page footer).
LANGUAGES = ["zh_Hans_CN", "en"]

# Times are shown in this zone; the database stores UTC.
BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"

# Largest accepted upload, in bytes (larger requests get 413).
MAX_CONTENT_LENGTH = 50 * 1024 * 1024

# Name of the demo city shown in the page header.
CITY_NAME = "河间市"

# Failed logins slow guessing down without letting anyone lock someone else out. After
# LOGIN_MAX_FAILURES wrong passwords for one name from one client (IP address), each further
# try for that name from that client waits 2, 4, 8... seconds (at most LOGIN_LOCKOUT_MINUTES);
# LOGIN_CLIENT_MAX_FAILURES failures from one client, whatever the names, lock that client out
# for LOGIN_LOCKOUT_MINUTES. Behind a reverse proxy set PROXY_FIX_X_FOR, or every user shares
# the proxy's address and its lock-out.
LOGIN_MAX_FAILURES = 5
LOGIN_CLIENT_MAX_FAILURES = 20
LOGIN_LOCKOUT_MINUTES = 15

# Session cookie flags. Set GRIDWATCH_SESSION_COOKIE_SECURE=true when served over HTTPS
# (production should be); HttpOnly and SameSite=Lax are always on.
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"

# A worker remembers an API token it checked for this long (seconds), saving a database round
# trip per API call. The price: a token revoked, or a role changed, by another worker or the
# CLI is still honoured by this one for up to this long. 0 checks every call.
API_TOKEN_CACHE_SECONDS = 5

# How long a login lasts, in seconds (a working day); the server also ends a session unused
# this long.
PERMANENT_SESSION_LIFETIME = 8 * 3600

# CSRF tokens on forms and fetch() writes (header X-CSRFToken); valid this long, in seconds.
WTF_CSRF_TIME_LIMIT = 8 * 3600

# Base map under the grid: "none" (default: works with no tile server at all), "tianditu"
# (needs TIANDITU_KEY; the bureau's browsers must reach Tianditu) or "xyz" (an intranet tile
# server at BASEMAP_URL, e.g. "http://tiles.intranet/{z}/{x}/{y}.png").
BASEMAP = "none"
TIANDITU_KEY = ""
BASEMAP_URL = ""
BASEMAP_ATTRIBUTION = ""

# Above this many enterprises in view, points come as vector tiles (ST_AsMVT) instead of
# GeoJSON: the page stays small and fast at province scale.
VECTOR_TILE_THRESHOLD = 20000

# The map wall re-fetches its layers and figures this often (seconds; 0 turns it off).
MAP_REFRESH_SECONDS = 300
# The big-screen wall (/map?wall=1, on a command-room screen nobody touches) re-fetches this
# often (seconds; 0 turns it off).
WALL_REFRESH_SECONDS = 60
# What only changes when the data does (the wall's layers, tiles, figures, hot spots) is kept
# in each server process's memory, up to this many megabytes, until a write changes the data
# it was computed from (gis/datacache.py). 0 turns the cache off.
MAP_CACHE_MB = 128
# Layers whose GeoJSON comes to this many bytes in all are put into the map page itself
# instead of being fetched after it (larger ones, and vector tiles, are fetched).
MAP_INLINE_BYTES = 1_500_000

# Gaps and overlaps smaller than this (m²) are rounding, not errors, when validating a redraw.
GRID_SLIVER_TOLERANCE_M2 = 1.0

# A boundary or owner change may take effect this many hours in the past (a form filled in
# late) and is then flagged "backdated" in the audit log. Further back only an administrator
# may date a change, giving a reason: it rewrites who was responsible when.
BACKDATE_GRACE_HOURS = 48

# Bounds on uploads, imports and grid previews (gis/limits.py), checked before a file is read
# whole, so one small hostile file cannot exhaust a worker's memory or time.
# Data rows in one enterprise upload (CSV or XLSX).
LIMIT_MAX_UPLOAD_ROWS = 100000
# Columns in one table upload.
LIMIT_MAX_COLUMNS = 200
# Bytes in one CSV line (a record).
LIMIT_MAX_LINE_BYTES = 65536
# Cells (rows x columns) an XLSX sheet may declare or hold.
LIMIT_MAX_XLSX_CELLS = 5000000
# Uncompressed bytes of all members of an XLSX or zipped Shapefile.
LIMIT_MAX_UNCOMPRESSED_BYTES = 268435456
# Features in one vector file (grid import, grid redraw).
LIMIT_MAX_FEATURES = 10000
# Vertices of one feature, and of all features in one request or file.
LIMIT_MAX_VERTICES_PER_FEATURE = 100000
LIMIT_MAX_VERTICES_PER_REQUEST = 1000000
# A grid editor preview's SQL is cancelled after this many milliseconds.
LIMIT_PREVIEW_STATEMENT_TIMEOUT_MS = 10000
# Previews one user may run at the same time (more get 429).
LIMIT_PREVIEW_CONCURRENCY_PER_USER = 2
# The grid editor's "suggest balance" (gis/rebalance.py): seconds the solver may take for each
# of its solves before its best answer so far is taken (or, with none, the local search's).
REBALANCE_TIME_LIMIT_SECONDS = 10

# Per-user limits on bulk reads (gis/ratelimit.py), shared by every worker: a user may make
# BURST reads at once, refilled at PER_MINUTE; beyond, 429 with Retry-After. Either at 0 turns
# a limit off. "ENTERPRISE": one enterprise's record (the enterprise search, an enterprise's
# responsible chain and contacts); a script walking every code is held to 30 a minute.
READ_LIMIT_ENTERPRISE_BURST = 120
READ_LIMIT_ENTERPRISE_PER_MINUTE = 30
# "BULK": many records at once (enterprise list pages, cell cards, map layers as GeoJSON); the
# map wall loads 6 layers per view, so this is 50 full reloads, then 10 a minute.
READ_LIMIT_BULK_BURST = 300
READ_LIMIT_BULK_PER_MINUTE = 60

# Background jobs (big imports) queue in PostgreSQL (gis/jobs.py). Worker threads each server
# process starts at its first request; 0 when dedicated `flask jobs work` processes run them
# (docs/deployment.md). Tests never start them.
JOB_WORKER_THREADS = 1
# A worker wakes on NOTIFY at once, and also polls this often (seconds) in case it missed one.
JOB_POLL_SECONDS = 5
# A job whose workers died this many times while running it is marked failed.
JOB_MAX_ATTEMPTS = 3
# Enterprise uploads larger than this many bytes, or with more CSV lines than
# IMPORT_BACKGROUND_ROWS, are imported in the background: the API answers 202 with the job.
IMPORT_BACKGROUND_BYTES = 1048576
IMPORT_BACKGROUND_ROWS = 5000
# Responsibility plates (明示牌, app/plates.py). A PDF of more plates than this (a station's
# grid, a long reprint list) is made by the job workers and offered when ready, since WeasyPrint
# takes about 40 ms a plate (docs/plates.md); one of more than PLATES_MAX_PER_PDF is refused
# (print the cells inside it one by one).
PLATES_BACKGROUND_COUNT = 100
PLATES_MAX_PER_PDF = 3000

# The gap report (问责依据, app/gaps.py). Its XLSX over a place of more enterprises than this is
# offered from the page as a background job (progress bar, download when ready): openpyxl
# writes some 2,000 rows a second and a report has about a row per enterprise a year
# (docs/accountability.md, "Measured"). GET ...&format=xlsx always makes it while one waits.
GAP_REPORT_BACKGROUND_ENTERPRISES = 5000

# Statistics (app/statistics.py). An XLSX file or a report of a period longer than a quarter over
# more enterprises than this is made by the job workers, with a progress bar, and offered when
# ready; smaller ones while the user waits (bench/stats.py measured both: README, "Measured").
STATISTICS_BACKGROUND_ENTERPRISES = 50000

# Field work. An inspection (or a photo whose EXIF says where it was taken) this many metres or
# more from the enterprise is marked "far from the site" (far_from_site): recorded, never
# refused, since GPS indoors is poor; leaders see the flag.
FAR_FROM_SITE_METRES = 300
# Photos of inspections and rectifications: JPEG, PNG or WebP (checked by content) up to this
# many bytes, stored under PHOTO_DIR by their SHA-256 (relative paths are under the instance
# folder).
PHOTO_MAX_BYTES = 8 * 1024 * 1024
PHOTO_DIR = "photos"
# A responsibility letter's scanned file (责任状, gis/assessment.py): a PDF, JPEG or PNG
# (checked by content) up to this many bytes, kept in the photos' store by its SHA-256.
LETTER_MAX_BYTES = 20 * 1024 * 1024
# A failed batch of product testing (不合格) opens a rectification due this many days after
# the sampling date, unless the laboratory's file or the form gives a deadline (整改期限).
FAILED_BATCH_RECTIFICATION_DAYS = 30

# 12365 complaints (gis/complaints.py). The address the public reaches this server at, for the
# links the responsibility plates' QR codes carry (<PUBLIC_BASE_URL>/public/complaints/new?
# enterprise=<management code>) and the complaint pages give out; "" means the address the
# request came to (right when people and the server see the same host name).
PUBLIC_BASE_URL = ""
# The public complaint form (no login) counts per client address: this many complaints at
# once, refilled at PUBLIC_COMPLAINT_PER_HOUR; its pages and status pages are read at most
# PUBLIC_READ_BURST at once, refilled at PUBLIC_READ_PER_MINUTE (0: no limit).
PUBLIC_COMPLAINT_BURST = 5
PUBLIC_COMPLAINT_PER_HOUR = 12
PUBLIC_READ_BURST = 60
PUBLIC_READ_PER_MINUTE = 20
# Open311 reads (GET /open311/v2/requests) are open to anyone, as the standard has them (they
# never carry the complainant's name, phone or e-mail); False: a login or token is needed, and
# each reader sees the complaints of their own area.
OPEN311_PUBLIC_READS = True

# Urgent events (应急处置, gis/urgent.py). An event nobody has acknowledged this many minutes
# after its last alerting escalates a level (the next place up: second-level grid, city).
URGENT_ACK_MINUTES = 10
# Open pages receive events pushed by the server (Server-Sent Events at /urgent/stream). A
# connection lasts at most this long (seconds), then the browser reconnects by itself.
URGENT_STREAM_SECONDS = 300
# A comment line is sent this often (seconds) on an idle stream, so proxies keep it open.
URGENT_HEARTBEAT_SECONDS = 15
# "auto": a server with threads (gunicorn -k gthread, the dev server) streams; a server without
# them (gunicorn's default sync workers) answers at once and the browser asks again after
# URGENT_POLL_SECONDS, so no worker is held by an open page. "stream" or "poll" force either.
URGENT_STREAM_MODE = "auto"
URGENT_POLL_SECONDS = 20
# Text messages of urgent events (gis/messaging.py): "none" (the default: open pages only) or
# "http", an SMS gateway taking POST {"phone", "text"} as JSON at SMS_GATEWAY_URL with
# "Authorization: Bearer SMS_GATEWAY_TOKEN", answering 2xx when it accepted the message.
# Messages are sent by the background job workers; failures are recorded on each alert.
SMS_GATEWAY = "none"
SMS_GATEWAY_URL = ""
SMS_GATEWAY_TOKEN = ""
# A gateway that has not answered after this many seconds has failed (that message only).
SMS_GATEWAY_TIMEOUT_SECONDS = 10
