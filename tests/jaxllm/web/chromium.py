"""The skip marker every browser test module uses: no system Chromium, no browser tests."""
import pytest

import jaxllm.web as web


def chromium_missing() -> str:
  try:
    web.find_chromium()
  except web.BrowserNotFoundError as e:
    return str(e)
  return ""


needs_chromium = pytest.mark.skipif(
    bool(chromium_missing()),
    reason="no Chromium (/usr/bin/chromium): install it with `bash scripts/setup_system.sh`")
