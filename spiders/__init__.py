"""The Scrapy project: generic spiders configured by ``config/sources/*.toml``.

Crawls run as ``python -m scrapy crawl <spider> -a source=<id> -a config_dir=<dir>`` with
``SCRAPY_SETTINGS_MODULE=spiders.settings`` (see :mod:`monitor.crawl`).  This package imports
``monitor``; ``monitor`` never imports it.
"""
