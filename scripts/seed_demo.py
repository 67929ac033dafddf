"""Load the demo tenant (idempotent): `python scripts/seed_demo.py`. Run the migrations first."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.demo.seed import seed  # noqa: E402

if __name__ == "__main__":
    asyncio.run(seed())
