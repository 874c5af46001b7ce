"""Django's PostgreSQL backend with a per-request health check that costs no round trip,
and ``json`` columns handed to Django as text, as Django has psycopg2 hand it ``jsonb``.

With ``CONN_HEALTH_CHECKS`` Django checks a reused connection before the first query of each
request with ``SELECT 1``: a round trip that, on a busy machine, costs the API's hottest
reads as much as their own query. A connection the server has ended (a restart,
``pg_terminate_backend``, an idle timeout) has the server's farewell or end-of-file waiting
on its socket, while a healthy idle one has nothing to read: the check looks at the socket
and asks the server only when something is waiting there. (After a failed query Django
still checks with ``SELECT 1``, as before.)
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if not base.is_psycopg3:
            import psycopg2.extras

            # JSONField decodes the text itself (health.models.JSONTextField is ``json``).
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
