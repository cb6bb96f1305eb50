"""Serves the sandbox websites on loopback: `python -m jaxllm.web.sites --port 0`."""
from __future__ import annotations

import argparse
import sys
import time

from jaxllm.web.sites import SITES, start_sites


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--port", type=int, default=0,
                      help="first port (sites take consecutive ports); 0 = ephemeral ports")
  parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
  parser.add_argument("--sites", default=",".join(SITES),
                      help=f"comma-separated subset of {','.join(SITES)}")
  args = parser.parse_args(argv)
  try:
    sandbox = start_sites(args.port, args.host, tuple(s for s in args.sites.split(",") if s))
  except (OSError, ValueError) as e:
    print(f"error: could not start sandbox sites: {e}", file=sys.stderr)
    return 2
  for name, url in sandbox.urls.items():
    print(f"{name} {url}", flush=True)
  try:
    while True:
      time.sleep(3600)
  except KeyboardInterrupt:
    sandbox.close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
