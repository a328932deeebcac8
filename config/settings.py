"""Django settings, composed from the environment by backend.env (see .env.example and README)."""

import django_stubs_ext

from backend.db.config import database_settings
from backend.env import BASE_DIR, Env, app_env, read_dotenv, require_app_env_unless_local
from backend.logging import logging_config

# Django's generic classes (ModelAdmin[User], QuerySet[User]) subscriptable at run time, as typed.
django_stubs_ext.monkeypatch()

env = Env()
APP_ENV = app_env(env)
if APP_ENV == "development":
    read_dotenv()
    APP_ENV = app_env(env)
PRODUCTION = APP_ENV == "production"
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-it-in-production-0123456789"  # noqa: S105
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
LOCAL_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000")

SECRET_KEY = env.secret("SECRET_KEY", "" if PRODUCTION else DEVELOPMENT_SECRET_KEY)
DEBUG = env.boolean("DEBUG", APP_ENV == "development")
ALLOWED_HOSTS = env.items(
    "ALLOWED_HOSTS", () if PRODUCTION else (*LOCAL_HOSTS, "testserver") if APP_ENV == "test" else LOCAL_HOSTS
)
CORS_ALLOWED_ORIGINS = env.origins("CORS_ORIGINS", () if PRODUCTION else LOCAL_ORIGINS)
CORS_ALLOW_ALL_ORIGINS = "*" in CORS_ALLOWED_ORIGINS
if CORS_ALLOW_ALL_ORIGINS:
    CORS_ALLOWED_ORIGINS = []
CORS_ALLOW_CREDENTIALS = True
CSRF_TRUSTED_ORIGINS = env.origins("CSRF_TRUSTED_ORIGINS", () if PRODUCTION else LOCAL_ORIGINS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "ninja",
    "backend",
    "apps.accounts",
    "apps.health",
    "apps.configuration",
]

MIDDLEWARE = [
    "backend.middleware.RequestContextMiddleware",
    "backend.middleware.ProblemMiddleware",
    # Django's and whitenoise's own, async-native under ASGI (backend/async_middleware.py says how).
    "backend.async_middleware.SecurityMiddleware",
    # Outside the middleware that can refuse a request (a bad Host in CommonMiddleware), so those
    # responses carry the header too; it only reads the response.
    "backend.async_middleware.XFrameOptionsMiddleware",
    "backend.async_middleware.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "backend.middleware.RequestBodyMiddleware",
    "backend.async_middleware.SessionMiddleware",
    "backend.async_middleware.CommonMiddleware",
    "backend.async_middleware.CsrfViewMiddleware",
    "backend.async_middleware.AuthenticationMiddleware",
    "backend.async_middleware.MessageMiddleware",
]

# Prometheus metrics at /metrics (backend/metrics.py); in production only for staff and this token.
METRICS_ENABLED = env.boolean("METRICS_ENABLED", True)
METRICS_TOKEN = env.secret("METRICS_TOKEN")
METRICS_PROTECTED = PRODUCTION
if METRICS_ENABLED:  # the request id and access log, and the request's metrics
    MIDDLEWARE[0] = "backend.metrics.RequestMetricsMiddleware"

# Django's deploy checks W001-W003 want its own classes by name; backend.E011-E013 check for
# the async-native subclasses in backend/async_middleware.py instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_settings(env)}
if APP_ENV == "development":
    require_app_env_unless_local(env, ALLOWED_HOSTS, DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if APP_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the apps' static folders unless collectstatic was run (production does).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# Bodies larger than this are refused with 413 before they are read (backend/asgi_handler.py);
# Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) still bounds what is parsed in memory.
REQUEST_BODY_MAX_BYTES = env.integer("REQUEST_BODY_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
CSRF_FAILURE_VIEW = "backend.problems.csrf_failure"

# Failed logins allowed per username and per client address within the window before
# /api/auth/login answers 429 (apps/accounts/throttle.py).
LOGIN_FAILURES_PER_USERNAME = 5
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_FAILURES_WINDOW = 15 * 60

LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), "info").upper()
LOG_FORMAT = env.choice("LOG_FORMAT", ("json", "console"), "json" if PRODUCTION else "console")
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)

DB_HEALTH_TIMEOUT = env.seconds("DB_HEALTH_TIMEOUT", 2.0)
# gunicorn's workers (config/gunicorn.py): each holds a pool, so the connection budget counts them.
WEB_CONCURRENCY = env.integer("WEB_CONCURRENCY", 1, minimum=1, maximum=64)
DB_CONNECT_TIMEOUT = DATABASES["default"]["OPTIONS"]["connect_timeout"]

# HTTPS, on in production: https://docs.djangoproject.com/en/6.1/howto/deployment/checklist/
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see README, "Behind a proxy").
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_REDIRECT_EXEMPT = [r"^api/health", r"^metrics$"]  # load balancers and Prometheus come over plain HTTP
SECURE_HSTS_SECONDS = 31_536_000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION

# The frontend's session (README, "Frontend"): app.example.com and api.example.com are one site, so
# Lax cookies go with its fetches; a cookie domain (.example.com) lets the Next.js server see them too.
SESSION_COOKIE_DOMAIN = env.cookie_domain("SESSION_COOKIE_DOMAIN")
CSRF_COOKIE_DOMAIN = env.cookie_domain("CSRF_COOKIE_DOMAIN")
SESSION_COOKIE_SAMESITE = env.choice("SESSION_COOKIE_SAMESITE", ("lax", "strict", "none"), "lax").capitalize()
CSRF_COOKIE_SAMESITE = env.choice("CSRF_COOKIE_SAMESITE", ("lax", "strict", "none"), "lax").capitalize()
SESSION_COOKIE_HTTPONLY = True  # the frontend never reads it; the CSRF token comes from /api/auth/csrf
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Error tracking, opt-in (backend/error_tracking.py): without SENTRY_DSN, Sentry is never loaded.
SENTRY_DSN = env.secret("SENTRY_DSN")
if SENTRY_DSN:
    from backend import error_tracking

    error_tracking.start(
        SENTRY_DSN,
        environment=env.text("SENTRY_ENVIRONMENT", APP_ENV),
        traces_sample_rate=env.fraction("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        secrets=[SECRET_KEY, DATABASES["default"].get("PASSWORD", ""), METRICS_TOKEN, SENTRY_DSN],
    )
