"""Kannon's Python driver: joins the same fleet as the TypeScript driver over Kafka.

Run it with ``python -m kannon_driver --kafka host:port --topic-prefix P --id ID`` from
``python/`` with the project's venv (``npm run python-env``).
"""

VERSION = "kannon-py/0.1.0"
