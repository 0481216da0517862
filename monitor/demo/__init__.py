"""The bundled, offline, SYNTHETIC demo web site that ``monitor demo`` serves on loopback.

Everything here is invented: the place 「示例县」, its townships, people, companies and events.
:mod:`monitor.demo.site` writes the static site (a county portal's 新闻发布, a GBK 县长信箱 and a
city news RSS feed), and :mod:`monitor.demo.sources` returns the source configs that crawl it.
"""
