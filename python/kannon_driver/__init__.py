"""Kannon's Python driver: joins the same fleet as the TypeScript driver over Kafka.

Installed (``pip install ./python``, which the project's venv does: ``npm run python-env``), it is the
``kannon-driver`` command; ``python -m kannon_driver`` runs the same::

    kannon-driver --kafka host:port --topic-prefix P --id ID
"""

__version__ = "0.1.0"
VERSION = f"kannon-py/{__version__}"
