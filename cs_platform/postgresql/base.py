"""Django's PostgreSQL backend with a per-request health check that costs no round trip,
and ``json`` columns handed to Django as text, as Django has psycopg2 hand it ``jsonb``.

JSON: psycopg2 decodes ``json`` itself, and ``JSONField.from_db_value`` would then get a list
or a dict where it expects text (and a JSON string such as ``"7"`` would come back as the
number 7). ``register_default_json`` with an identity ``loads`` is psycopg2's documented hook,
the one Django's backend uses for ``jsonb`` in the same method (``health.models.JSONTextField``
is the ``json`` column).

Health check: with ``CONN_HEALTH_CHECKS`` Django checks a reused connection before the first
query of each request with ``SELECT 1``. A connection the server has ended (a restart,
``pg_terminate_backend``, an idle timeout) has the server's farewell or end-of-file waiting on
its socket, while a healthy idle one has nothing to read: this check looks at the socket and
asks the server only when something is waiting there (after a failed query Django still
checks with ``SELECT 1``). It overrides Django's internal health-check attributes
(``health_check_enabled``, ``health_check_done``, ``pool``), which
``tests/cs_platform/test_api_perf.py`` holds to, because a benchmark says it is needed: 12 us
against 87-125 us for Django's ``SELECT 1`` on an idle machine, and more on a loaded one, where
the round trip waits for the server's process to be scheduled. ``health_endpoint_http`` at 300
accounts, runs alternating, gave rps_ratio 0.458 / 0.524 / 0.447 / 0.639 with this check
against 0.433 / 0.495 / 0.314 / 0.493 with Django's (the last two pairs also with
``Model.from_db`` in ``cs_platform.api.rows``, which alone showed no difference): lower in
every pair, by 5-30%.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if not base.is_psycopg3:
            import psycopg2.extras

            psycopg2.extras.register_default_json(conn_or_curs=connection, loads=lambda x: x)
        return connection

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._socket_is_quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _socket_is_quiet(self) -> bool:
        if self.connection.closed:
            return False
        try:
            waiting, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not waiting
