"""Verify the live database against the declared schema: `python scripts/verify_schema.py --help`.

Exit codes: 0 in sync, 2 drift (pending migration, schema difference or failed cascade),
1 cannot connect or crashed. The logic lives in app/schema_check/.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.schema_check.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
