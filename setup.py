"""Build and install ccbox: the Python packages, the Cython hot paths, the two commands."""

import os

from setuptools import Extension, find_packages, setup

PACKAGES = ["appliance", "drivers", "acd", "ivr", "recorder", "webui", "firmware_tools"]

# Each hot path is a selector module, `_x_c.pyx` and `_x_py.py`; only the .pyx is built here.
CYTHON_MODULES = [
    "drivers.audio._g711_c",
    "recorder._dsp_c",
    "drivers.asterisk.ami._scan_c",
    "acd._route_c",
]


def extensions():
    if os.environ.get("CCBOX_NO_CYTHON"):
        return []
    from Cython.Build import cythonize

    exts = [
        Extension(name, [name.replace(".", "/") + ".pyx"], extra_compile_args=["-O3"])
        for name in CYTHON_MODULES
    ]
    return cythonize(
        exts, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}
    )


setup(
    name="ccbox",
    version="0.1.0",
    description="All-in-one call-center appliance: ACD, IVR, recording, supervision over Asterisk",
    python_requires=">=3.11",
    packages=[p for p in find_packages() if p.split(".")[0] in PACKAGES],
    package_data={
        "appliance": ["db/migrations/script.py.mako", "demo_site/*.html", "demo_site/static/*"],
        # the charting library is npm's (make deps installs it; webui/vendor.py serves it)
        "webui": [
            "templates/*.html",
            "static/*",
            "static/chat/*",  # the web chat's widget and its recorder's glue (webui/chat/)
            "locale/*/LC_MESSAGES/*.po",
            "node_modules/echarts/dist/echarts.min.js",
            "node_modules/quill/dist/quill.js",
            "node_modules/quill/dist/quill.snow.css",
            # rrweb: escorted browsing and the live view (webui/cobrowse/)
            "node_modules/@rrweb/record/dist/record.umd.min.cjs",
            "node_modules/rrweb/dist/rrweb.umd.min.cjs",
            "node_modules/rrweb/dist/style.min.css",
        ],
        "recorder": ["*.pyx"],
        "drivers": ["asterisk/ami/*.pyx"],
        "acd": ["*.pyx"],
    },
    ext_modules=extensions(),
    install_requires=[
        "Twisted>=24.3",
        "SQLAlchemy>=2.0",
        "alembic>=1.13",
        "pyst2>=0.5",
        "CherryPy>=18.9",
        "pyserial>=3.5",
        "sounddevice>=0.4",
        # IVR prompts: decode uploads (WAV/MP3/FLAC/OGG; the wheel bundles libsndfile),
        # resample to the switch's 8 kHz, and the sample arrays both work on
        "soundfile>=0.12",
        "soxr>=0.3",
        "numpy>=1.24",
        "Jinja2>=3.1",
        "argon2-cffi>=23.1",
        # recordings encrypted at rest (AES-256-GCM): the audited library, not our own crypto
        "cryptography>=42",
        "Babel>=2.14",
        "psycopg[binary]>=3.1",
        # call lists uploaded as XLSX, read streamed (read-only mode): Excel's own format
        # has too many corners (shared strings, inline strings, dates) for our own reader
        "openpyxl>=3.1",
        # calling windows in the called party's zone (zoneinfo): the system's zone files
        # first (Debian's tzdata package), this copy where a minimal image has none
        "tzdata>=2024.1",
        # the /metrics endpoint: Prometheus' own client writes the exposition format and the
        # process collector (CPU, memory, open files) instead of hand-written text
        "prometheus_client>=0.20",
        # reports as PDF with their charts (reportlab.graphics.charts) and Chinese text in
        # its built-in CID font (no font file on the box): a long-kept library, not our PDF
        "reportlab>=4.0",
        # knowledge-base articles and ticket comments are rich text: HTML cleaned by an
        # allowlist in a real HTML5 parser (ammonia, Rust), never by a regular expression
        "nh3>=0.2.17",
        # knowledge-base search: English words to their stems (Snowball's own generated
        # Python), so "refunds" finds "refund" on SQLite and PostgreSQL alike
        "snowballstemmer>=2.2",
        # firmware images as Intel HEX: bincopy checks every record (checksum, length,
        # extended segment and linear addresses) and refuses overlaps; kept up (intelhex's
        # last release is from 2020), pure Python
        "bincopy>=20.0",
        # the e-mail channel reads mailboxes over IMAP (IDLE, UIDs, UIDVALIDITY) with a
        # well-kept client rather than our own protocol code; blocking, run in a thread
        "imapclient>=3.0",
        # Twisted's TLS (SMTP with implicit TLS or STARTTLS) checks the server's name on its
        # certificate with service_identity, the library Twisted's tls extra names
        "service-identity>=24.1",
        "pyOpenSSL>=24.0",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            # make test runs its files on both cores (-n 2 --dist loadfile): about 40% less time
            "pytest-xdist>=3.5",
            "hypothesis>=6",
            "ruff>=0.5",
            "mypy>=1.10",
            "Cython>=3.0",
            "selenium>=4.20",  # drives Debian's chromium for browser tests and screenshots
            "pypdf>=4.0",  # the report PDFs' text read back in tests, independent of reportlab
            # an SMTP server that is not Twisted's, for the mail client's tests (asyncio)
            "aiosmtpd>=1.4",
            # the C G.711 codec the recorder's tests compare against (stdlib up to 3.12)
            "audioop-lts>=0.2; python_version >= '3.13'",
        ],
    },
    entry_points={
        "console_scripts": [
            "ccbox = appliance.cli:main",
            "ccboxd = appliance.daemon:main",
        ],
    },
)
