"""Schema verification: migrations status, declared-vs-live diff, delete cascades."""

from app.schema_check.report import EXIT_DRIFT, EXIT_ERROR, EXIT_OK, Report
from app.schema_check.verify import ConnectError, verify

__all__ = ["EXIT_DRIFT", "EXIT_ERROR", "EXIT_OK", "ConnectError", "Report", "verify"]
