"""Start, stop and watch the local stack: S3 (SeaweedFS), PostgreSQL, the Hive Metastore, Spark Connect,
Trino, Airflow and the Delta Sharing server.

Every process we start gets a pid file and a log under ``<state>/run`` and
``<state>/logs``; ``down`` only signals processes whose pid file we wrote and
whose command line is still ours.  All servers listen on 127.0.0.1.

One module per concern: :mod:`.supervisor` (a process and its pid file, health, stop,
memory), one per kind of server (:mod:`.s3`, :mod:`.postgres`, :mod:`.metastore`,
:mod:`.spark_connect`, :mod:`.trino_server`, :mod:`.airflow_components`,
:mod:`.python_servers`), and :mod:`.stack`, which knows their start order.  This
package's names are the ones callers use (``services.up``, ``services.select``, …);
a test that replaces a name must replace it in the module that looks it up.
"""

from lakehouse.core.errors import ServiceError
from lakehouse.services.airflow_components import AIRFLOW_COMPONENTS
from lakehouse.services.metastore import (METASTORE_DB, METASTORE_LOG4J2, METASTORE_SCHEMA, METASTORE_USER,
                                          metastore_site)
from lakehouse.services.postgres import (POSTGRES_ELSEWHERE, POSTGRES_OS_USER, POSTGRES_SUPERUSER, _pg_connect,
                                         can_enter, drop_database, ensure_database, first_closed_folder,
                                         postgres_closed_folder, postgres_elsewhere, postgres_home,
                                         postgres_socket_dir)
from lakehouse.services.s3 import S3_STOP_TIMEOUT
from lakehouse.services.stack import (all_services, down, ensure_airflow_database, migrate_airflow,
                                      reset_airflow_database, select, status, up, with_needs)
from lakehouse.services.supervisor import (Service, _process_alive, http_json, http_status, port_open, rss_tree_mb,
                                           say, tail)

__all__ = ["AIRFLOW_COMPONENTS", "METASTORE_DB", "METASTORE_LOG4J2", "METASTORE_SCHEMA", "METASTORE_USER",
           "POSTGRES_ELSEWHERE", "POSTGRES_OS_USER", "POSTGRES_SUPERUSER", "S3_STOP_TIMEOUT", "Service",
           "ServiceError", "all_services", "can_enter", "down", "drop_database", "ensure_airflow_database",
           "ensure_database", "first_closed_folder", "http_json", "http_status", "metastore_site",
           "migrate_airflow", "port_open", "postgres_closed_folder", "postgres_elsewhere", "postgres_home",
           "postgres_socket_dir", "reset_airflow_database", "rss_tree_mb", "say", "select", "status", "tail", "up",
           "with_needs"]
