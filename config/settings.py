"""civicgrid settings, read from environment variables (one file; tests and production differ only by env)."""

import os
import sys
import tempfile
from pathlib import Path

import dj_database_url

from config.env import Env

# Every value read from the environment goes through `env`: a bad one stops the start (end of this file).
env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = os.environ.get("CIVICGRID_TESTING", "1" if "pytest" in sys.modules else "0") in {"1", "true", "yes"}
_default_data_dir = Path(tempfile.mkdtemp(prefix="civicgrid-test-")) if TESTING else BASE_DIR / "var"
DATA_DIR = Path(os.environ.get("CIVICGRID_DATA_DIR") or _default_data_dir).resolve()
_data_dir_ok = env.directory("CIVICGRID_DATA_DIR", DATA_DIR)
env_bool = env.bool

DEBUG = env_bool("CIVICGRID_DEBUG", False)
SECRET_KEY = os.environ.get("CIVICGRID_SECRET_KEY") or ""
if not SECRET_KEY and _data_dir_ok:
    # The embedded default keeps a generated secret beside its data; production sets CIVICGRID_SECRET_KEY.
    _secret_file = DATA_DIR / "secret_key"
    if _secret_file.exists():
        SECRET_KEY = _secret_file.read_text().strip()
    else:
        import secrets

        SECRET_KEY = secrets.token_urlsafe(50)
        _secret_file.write_text(SECRET_KEY)
        _secret_file.chmod(0o600)

ALLOWED_HOSTS = env.hosts("CIVICGRID_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.origins("CIVICGRID_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    "civicgrid.foundation.core",
    "civicgrid.foundation.access",
    "civicgrid.foundation.audit",
    "civicgrid.foundation.events",
    "civicgrid.foundation.sla",
    "civicgrid.foundation.regions",
    "civicgrid.foundation.orgs",
    "civicgrid.foundation.people",
    "civicgrid.foundation.imports",
    "civicgrid.foundation.notify",
    "civicgrid.apps.categories",
    "civicgrid.apps.cases",
    "civicgrid.apps.evaluation",
    "civicgrid.apps.hazards",
    "civicgrid.apps.flood",
    "civicgrid.apps.materials",
    "civicgrid.apps.rescue",
    "civicgrid.dashboards.command",
    "civicgrid.integrations.router",
    "civicgrid.integrations.open311",
    "civicgrid.ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "civicgrid.foundation.core.middleware.RequestContextMiddleware",
    "civicgrid.ui.errors.DatabaseUnavailableMiddleware",
    "civicgrid.foundation.access.middleware.IdleSessionMiddleware",  # Django's, but timed refreshes are not activity
    "civicgrid.foundation.core.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "civicgrid.foundation.access.middleware.HtmxSessionRedirectMiddleware",
    "civicgrid.foundation.access.middleware.SessionPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "civicgrid.ui.errors.FormAddressMiddleware",
    "civicgrid.ui.errors.ApiMethodMiddleware",
    "civicgrid.ui.errors.KeysUnavailableMiddleware",
    "civicgrid.ui.errors.RefusalLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "civicgrid.ui.context.navigation",
            ],
        },
    }
]

CSRF_FAILURE_VIEW = "civicgrid.ui.errors.csrf_failure"  # in the user's language, inside the site's frame

# --- database -----------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
_db_scheme = DATABASE_URL.partition("://")[0].lower()
if DATABASE_URL and _db_scheme not in {"postgres", "postgresql", "sqlite"}:
    # The value is not repeated: it may hold a password.
    env.bad("DATABASE_URL", f"{_db_scheme or DATABASE_URL[:12]}://…", "支持的数据库：postgres://用户@主机:端口/库名 或 sqlite:///路径",
            "supported: postgres://user@host:port/name or sqlite:///path")
    DATABASE_URL = ""
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=None, conn_health_checks=True)}
    DATABASES["default"].setdefault("TEST", {})
    DATABASES["default"]["TEST"].update(
        {
            # Several test runs may share one server: each gets its own database.
            "NAME": os.environ.get("CIVICGRID_TEST_DB_NAME", f"test_civicgrid_{os.getpid()}"),
            "TEMPLATE": "template0",
            "CHARSET": "UTF8",
        }
    )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("CIVICGRID_SQLITE_PATH", str(DATA_DIR / "civicgrid.sqlite3")),
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ---------------------------------------------------------------------------------------------
# Per process (short lookups): Django's local-memory cache without pickling values that cannot change
# (civicgrid.foundation.core.cache). Rate-limit buckets are not kept here (civicgrid.foundation.core.ratelimit).
CACHES = {"default": {"BACKEND": "civicgrid.foundation.core.cache.LocalMemoryCache", "LOCATION": "civicgrid"}}

# --- identity ------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "ui:login"
LOGIN_REDIRECT_URL = "ui:home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "civicgrid.foundation.access.passwords.ComplexityValidator"},
    {"NAME": "civicgrid.foundation.access.passwords.HistoryValidator"},
]
SESSION_COOKIE_AGE = env.int("CIVICGRID_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout, not absolute (automatic refreshes excepted: IdleSessionMiddleware)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_PROXY = env_bool("CIVICGRID_BEHIND_TLS_PROXY", False)
if SECURE_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

from django.utils.csp import CSP  # noqa: E402

_TILE_URL = os.environ.get("CIVICGRID_TILE_URL", "").strip()  # (CIVICGRID_TILE_URL below)
_TILE_ORIGINS = list(dict.fromkeys(o for o in [env.tile_origin("CIVICGRID_TILE_URL", _TILE_URL),
                                               *env.origins("CIVICGRID_TILE_ORIGIN", [], sep=None)] if o))

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    # Map tiles from the server CIVICGRID_TILE_URL names (CIVICGRID_TILE_ORIGIN: further origins, if any).
    "img-src": [CSP.SELF, "data:", "blob:", *_TILE_ORIGINS],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Login throttling and two factors (SECURITY.md "Identity")
CIVICGRID_LOGIN_MAX_FAILURES = env.int("CIVICGRID_LOGIN_MAX_FAILURES", 5, minimum=1)
CIVICGRID_LOGIN_LOCK_MINUTES = env.int("CIVICGRID_LOGIN_LOCK_MINUTES", 15, minimum=1)
CIVICGRID_PASSWORD_MAX_AGE_DAYS = env.int("CIVICGRID_PASSWORD_MAX_AGE_DAYS", 90, minimum=0)
CIVICGRID_PASSWORD_HISTORY = env.int("CIVICGRID_PASSWORD_HISTORY", 5, minimum=0)
CIVICGRID_TOKEN_TTL_HOURS = env.int("CIVICGRID_TOKEN_TTL_HOURS", 24, minimum=1)
from civicgrid.foundation.access.roles import Role  # noqa: E402 (plain choices; no app registry needed)

# "superuser" covers superusers whatever their roles (access.totp.required).
CIVICGRID_TOTP_ROLES = env.names("CIVICGRID_TOTP_ROLES", [*(r.value for r in Role), "superuser"])

# Rate limits (SECURITY.md "Web and API"), token buckets every process of the host shares, in ratelimit.sqlite3 in
# the data dir, or every host in Redis (below; civicgrid.foundation.core.ratelimit; not in the cache, which is per
# process): a
# burst, then a steady rate per hour; a negative rate lifts a limit, 0 closes the door. Public reporting counts
# the reports residents and volunteers send over the web and the API (staff are not held back), per account and
# per address; token issuing counts every request to /api/v1/auth/token, refused or not, per username tried and
# per address (the burst per username stays above the lockout's failures, so a lock is still told as a lock).
_RATE = {"note_zh": "负数不限，0 关闭", "note_en": "negative: no limit, 0: closed"}
CIVICGRID_REPORT_RATE_PER_HOUR = env.float("CIVICGRID_REPORT_RATE_PER_HOUR", 10, **_RATE)
CIVICGRID_REPORT_BURST = env.float("CIVICGRID_REPORT_BURST", 5, minimum=0)
CIVICGRID_REPORT_ADDRESS_RATE_PER_HOUR = env.float("CIVICGRID_REPORT_ADDRESS_RATE_PER_HOUR", 60, **_RATE)
CIVICGRID_REPORT_ADDRESS_BURST = env.float("CIVICGRID_REPORT_ADDRESS_BURST", 20, minimum=0)
# The report map's public outline of the district (ui.pages.cases_report.report_outline): per account and per
# address, a minute's rate (a page loads it once and the browser keeps it five minutes).
CIVICGRID_OUTLINE_RATE_PER_MINUTE = env.float("CIVICGRID_OUTLINE_RATE_PER_MINUTE", 20, **_RATE)
CIVICGRID_OUTLINE_BURST = env.float("CIVICGRID_OUTLINE_BURST", 20, minimum=0)
CIVICGRID_OUTLINE_ADDRESS_RATE_PER_MINUTE = env.float("CIVICGRID_OUTLINE_ADDRESS_RATE_PER_MINUTE", 300, **_RATE)
CIVICGRID_OUTLINE_ADDRESS_BURST = env.float("CIVICGRID_OUTLINE_ADDRESS_BURST", 200, minimum=0)
# The reporters' follow pages (ui.pages.follow: the page, its QR code, rating and reopening), per caller address, a
# minute's rate: a resident reloads it now and then; a flood of guessed tokens or posts is held back.
CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE = env.float("CIVICGRID_FOLLOW_ADDRESS_RATE_PER_MINUTE", 60, **_RATE)
CIVICGRID_FOLLOW_ADDRESS_BURST = env.float("CIVICGRID_FOLLOW_ADDRESS_BURST", 60, minimum=0)
CIVICGRID_TOKEN_RATE_PER_HOUR = env.float("CIVICGRID_TOKEN_RATE_PER_HOUR", 20, **_RATE)
CIVICGRID_TOKEN_BURST = env.float("CIVICGRID_TOKEN_BURST", 10, minimum=0)
CIVICGRID_TOKEN_ADDRESS_RATE_PER_HOUR = env.float("CIVICGRID_TOKEN_ADDRESS_RATE_PER_HOUR", 120, **_RATE)
CIVICGRID_TOKEN_ADDRESS_BURST = env.float("CIVICGRID_TOKEN_ADDRESS_BURST", 30, minimum=0)
# Several hosts share their buckets through Redis (CIVICGRID_REDIS_URL, e.g. redis://10.0.0.5:6379/0); keys start
# with CIVICGRID_REDIS_PREFIX, so deployments can share one Redis; a call to Redis waits at most
# CIVICGRID_REDIS_TIMEOUT seconds to connect or for an answer (what each door does when Redis is away: core.ratelimit).
CIVICGRID_REDIS_URL = env.redis_url("CIVICGRID_REDIS_URL")
CIVICGRID_REDIS_PREFIX = env.str("CIVICGRID_REDIS_PREFIX", "civicgrid:")
CIVICGRID_REDIS_TIMEOUT = env.float("CIVICGRID_REDIS_TIMEOUT", 0.5, above=0)

# --- i18n ----------------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "civicgrid" / "locale"]
# The language chosen in the top bar is kept for a year: without an age the cookie ends with the browser, and
# an English reader would be back in Chinese the next morning. It only names a language, so Lax is enough.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- files ---------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "uploads"
MEDIA_URL = "/media/"  # served only through scoped views, never by the web server directly
DATA_UPLOAD_MAX_MEMORY_SIZE = 60 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
CIVICGRID_MAX_IMPORT_BYTES = env.int("CIVICGRID_MAX_IMPORT_BYTES", 50 * 1024 * 1024, minimum=1)
CIVICGRID_KEY_FILE = Path(os.environ.get("CIVICGRID_KEY_FILE", DATA_DIR / "keys.json"))
# The case ledger (事件台账): up to this many lines it is built in the request; a bigger one is built by the
# background worker and offered in the requester's inbox, its file kept in DATA_DIR/exports/ledger this many hours.
CIVICGRID_LEDGER_SYNC_MAX_ROWS = env.int("CIVICGRID_LEDGER_SYNC_MAX_ROWS", 5000, minimum=0)
CIVICGRID_LEDGER_KEEP_HOURS = env.int("CIVICGRID_LEDGER_KEEP_HOURS", 24, minimum=1)
CIVICGRID_CIPHER = env.choice("CIVICGRID_CIPHER", "aes-gcm", ["aes-gcm", "sm4"])
# Where people reach this site (SMS and email carry absolute follow links, the QR codes too), e.g.
# https://wangge.pingcheng.gov.cn; without it links are paths, which a text message cannot open.
CIVICGRID_PUBLIC_BASE_URL = env.url("CIVICGRID_PUBLIC_BASE_URL").rstrip("/")
CIVICGRID_TILE_URL = os.environ.get("CIVICGRID_TILE_URL", "")  # optional, e.g. a district's own tile server
CIVICGRID_DEMO_PASSWORD = os.environ.get("CIVICGRID_DEMO_PASSWORD", "civicgrid-demo")
# Past days of cases the demo plays through the loop (civicgrid/apps/cases/demo.py); 0: none.
# Tests ask for the days they need (a month of history takes half a minute).
CIVICGRID_DEMO_HISTORY_DAYS = env.int("CIVICGRID_DEMO_HISTORY_DAYS", 0 if TESTING else 30, minimum=0)

# --- background work -----------------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "imports"],
    }
}
if TESTING and not env_bool("CIVICGRID_TASKS_DB", False):
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "imports"]}}
CIVICGRID_WORKER_INTERVAL = env.float("CIVICGRID_WORKER_INTERVAL", 1.0, above=0)
# The worker's work is deferred by design (events, sweeps, queued reports): on a machine it shares with the web
# processes it yields the CPU to requests (a POSIX niceness added at start; 0 keeps the shell's).
CIVICGRID_WORKER_NICE = env.int("CIVICGRID_WORKER_NICE", 5, minimum=0, maximum=19)

_LOG_LEVEL = env.choice("CIVICGRID_LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
# Follow links, Open311 tokens and keys in logged paths are cut (civicgrid/foundation/core/logsafe.py): on the
# loggers that write request paths, so that every handler (a deployment's own too) gets the record cut, and on the
# console handler for whatever else reaches it. runserver's request lines go to the console through the filter.
_PATH_LOGGERS = ("django.request", "django.security.csrf", "civicgrid.ui.errors", "civicgrid.dbdown")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"secrets": {"()": "civicgrid.foundation.core.logsafe.SecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]}},
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False, "filters": ["secrets"]},
        **{name: {"filters": ["secrets"]} for name in _PATH_LOGGERS},
    },
}

# The case loop's local rules (civicgrid/apps/cases/conf.py reads them): possible duplicates are the cases within
# so many metres of a report still in hand or 挂账 however old, and those closed within so many hours of it
# (offered at intake; auto-dispatch holds such a report back), those of a related category only with texts this
# alike (0–1); a closed case may be reopened (through the reporter's link or by a dispatcher) for so many days.
CIVICGRID_DUPLICATE_RADIUS_M = env.float("CIVICGRID_DUPLICATE_RADIUS_M", 200.0, minimum=0)
CIVICGRID_DUPLICATE_HOURS = env.float("CIVICGRID_DUPLICATE_HOURS", 72.0, minimum=0)
CIVICGRID_DUPLICATE_MIN_TEXT = env.float("CIVICGRID_DUPLICATE_MIN_TEXT", 0.2, minimum=0, maximum=1)
# A duplicate is merged into a case at most so many metres away, even with a reason (0: 5 × the radius; never less
# than the radius): beyond it two reports are not one problem (civicgrid/apps/cases/conf.py says why 5).
CIVICGRID_MERGE_MAX_DISTANCE_M = env.float("CIVICGRID_MERGE_MAX_DISTANCE_M", 0.0, minimum=0,
                                           note_zh="0 表示查重范围的 5 倍", note_en="0 means 5 × the duplicate radius")
CIVICGRID_REOPEN_DAYS = env.int("CIVICGRID_REOPEN_DAYS", 7, minimum=0)
# A closing may be rated (满意度, through the reporter's link) for so many days; unset (None), the reopen days: one
# window in which the reporter says whether it is solved, by a rating or a reopening, and no rating changes a
# period's evaluation long after it (the cases app's conf.rating_days).
CIVICGRID_RATING_DAYS = env.int("CIVICGRID_RATING_DAYS", None, minimum=0)

# Outgoing SMS and email (civicgrid/foundation/notify/senders.py): the dotted path of the class that hands a
# message to the district's gateway or relay; the console sender prints a masked line. One that cannot be
# loaded is the system check notify.E001 (migrate, check and the worker stop on it).
CIVICGRID_SMS_SENDER = env.raw("CIVICGRID_SMS_SENDER") or "civicgrid.foundation.notify.senders.ConsoleSender"
CIVICGRID_EMAIL_SENDER = env.raw("CIVICGRID_EMAIL_SENDER") or "civicgrid.foundation.notify.senders.ConsoleSender"

# Numbers other modules read from the environment when they are used (Open311's `conf.setting`, the router's
# threshold): checked here too, so a bad one stops the start rather than failing requests.
for _name, _minimum in [("CIVICGRID_OPEN311_MAX_DAYS", 1), ("CIVICGRID_OPEN311_MAX_RESULTS", 1)]:
    env.int(_name, 0, minimum=_minimum)
for _name in ["CIVICGRID_OPEN311_ADDRESS_RATE", "CIVICGRID_OPEN311_ADDRESS_BURST", "CIVICGRID_OPEN311_CATALOGUE_SECONDS",
              "CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS", "CIVICGRID_AUTO_DISPATCH_THRESHOLD"]:
    env.float(_name, 0, minimum=0)
env.stop_if_invalid()
