"""Rebuild ``data/flow/transfer/``: nine of NAB's development series and their windows (issue 21).

    python scripts/vendor_flow_transfer.py [../shared/data/nab]

The flow gate's transfer set when ``../shared/data/nab`` is not beside the project: two artificial
series with daily cycles (one anomaly-free), two ad-exchange, three traffic and one tweet-volume
series, chosen to mix easy and hard ones (the causal rolling z-score scores 54 on them, the ensemble
68; on all 34 development series 45 and 64). Copied byte for byte, with NAB's MIT licence.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

FILES = (
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialWithAnomaly/art_daily_nojump.csv",
    "realAdExchange/exchange-2_cpm_results.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
    "realTraffic/occupancy_t4013.csv",
    "realTraffic/TravelTime_451.csv",
    "realTraffic/speed_7578.csv",
    "realTweets/Twitter_volume_GOOG.csv",
)
OUT = Path(__file__).resolve().parents[1] / "data" / "flow" / "transfer"


def main(source: Path) -> None:
    windows = json.loads((source / "combined_windows.json").read_text())
    for name in FILES:
        target = OUT / "data" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / "data" / name, target)
    (OUT / "combined_windows.json").write_text(json.dumps({n: windows[n] for n in FILES}, indent=1) + "\n")
    shutil.copyfile(source / "LICENSE.txt", OUT / "LICENSE.txt")
    print(f"{len(FILES)} series in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT.parents[3] / "shared" / "data" / "nab")
