"""Gunicorn configuration for County IT: ``gunicorn -c deploy/gunicorn.conf.py 'linkgate.web:create_app()'``.

Every value comes from :func:`linkgate.serving.gunicorn_settings` applied to linkgate's own configuration
(``LINKGATE_CONFIG`` / ``LINKGATE_*`` environment variables, read by :func:`linkgate.config.load_settings`),
so this file, ``linkgate serve`` and ``benchmarks/gate.py`` cannot drift apart: change a setting in
``linkgate/serving.py`` (or ``[server]`` in the TOML file), never here. Gunicorn command-line flags still
win over this file (``--bind``, ``--workers``...).

Worker class: ``gthread``. Browsers open keep-alive connections and leave them idle after the page has
loaded. A ``sync`` worker serves one connection at a time and sits on each idle one until ``keepalive``
or ``timeout`` expires, so a handful of browsers can stall every worker unless a buffering proxy (nginx)
stands in front. ``gthread`` parks idle connections in each worker's poller (up to
``worker_connections``) and serves ready requests on a small thread pool, so an idle connection costs a
file descriptor, not a worker. ``keepalive`` is 5 s.

Counts: ``server.workers`` processes (default 2) x ``server.threads`` threads (default 8). A click is
CPU-bound Python work of well under a millisecond (parse, classify in memory, redirect or render), so
processes, not threads, give throughput: about one worker per core. Threads only cover the rare waits:
a notice for a host not yet in the site cache waits at most ``fetch.privacy_wait_ms`` for the lookup,
and the database is touched on a cache miss or a count flush. Each worker keeps its own rules and
counts in memory and refreshes them from the database in a background thread.

Listening socket: one, opened by the master and shared by the workers (``reuse_port`` stays off). With
``SO_REUSEPORT`` each worker would listen on a socket of its own and the kernel would spread connections
evenly, but a stopping worker (on every reload) keeps its socket in the kernel's group until it exits,
and the connections queued there meanwhile are reset. The price of sharing: a burst of new connections
can land on one worker, and a connection stays with the worker that accepted it, so a client holding a
fixed set of connections (``wrk``, an upstream keep-alive pool) may load one worker only for a while;
``benchmarks/gate.py`` checks its connections for that and starts a lopsided run again.

Access log: off by default (``accesslog = None``). When County IT turns it on (``--access-logfile -``)
the format is ``linkgate.serving.ACCESS_LOG_FORMAT``: time, method, path *without* the query string
(the destination lives in ``?url=``), protocol, status, size and duration. No client address, user
agent, referrer or cookie is written, so the log cannot tell who went where.

Control socket (gunicorn >= 25.1): gunicorn's default ``$XDG_RUNTIME_DIR/gunicorn.ctl`` or
``~/.gunicorn/gunicorn.ctl`` is one path per user, shared by every gunicorn on the machine; linkgate's
settings turn it off (see ``linkgate/serving.py``).
"""

from __future__ import annotations

from linkgate.serving import config_file_settings

# Gunicorn reads this module's globals whose names are gunicorn settings (bind, workers, worker_class...)
# and ignores every other name, so publishing the dictionary is the whole configuration. This file is read
# again at each SIGHUP: a configuration that no longer reads is then reported in the log and the running
# one kept, so a plain `kill -HUP` after a typo does not stop the service (linkgate/serving.py).
_SETTINGS = config_file_settings()  # also read by benchmarks/gate.py, for its record
globals().update(_SETTINGS)
