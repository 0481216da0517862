"""The generic spiders: ``rss``, ``news_list`` and ``message_board`` (one per source kind)."""
